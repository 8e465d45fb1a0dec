//! Talking to Okta through the host's brokered `http`: the host adds
//! `Authorization: SSWS <token>` (credential `config.credential`), checks
//! the destination and retries 429s; this module follows `Link` paging,
//! watches the rate-limit headers and turns errors into clear messages.

use serde_json::Value;
use usersync_sdk::host::{http, schedule};
use usersync_sdk::log;

use crate::config::Config;
use crate::parse::{error_text, next_link, reset_in};

pub struct Okta<'a> {
    pub config: &'a Config,
    /// The server's `Date` of the first answer (the next cursor).
    pub first_date: Option<String>,
}

impl Okta<'_> {
    /// GET `url`; the JSON body and the `rel="next"` link.
    pub fn get(&mut self, url: &str) -> Result<(Value, Option<String>), String> {
        let r = http::get(
            url,
            Some(&self.config.credential),
            &[("Accept", "application/json")],
        )?;
        if self.first_date.is_none() {
            self.first_date = r.header("date").map(String::from);
        }
        let path = url.split('?').next().unwrap_or(url);
        let path = path
            .strip_prefix(self.config.domain.trim_end_matches('/'))
            .unwrap_or(path);
        if let (Some(left), Some(limit)) = (
            r.header("x-rate-limit-remaining")
                .and_then(|v| v.parse::<u32>().ok()),
            r.header("x-rate-limit-limit")
                .and_then(|v| v.parse::<u32>().ok()),
        ) {
            if left * 10 < limit {
                log::warn(&format!(
                    "Okta rate limit nearly used up on {path}: {left} of {limit} calls left"
                ));
            }
        }
        match r.status {
            200..=299 => Ok((r.json()?, next_link(r.headers_named("link")))),
            401 => Err(format!(
                "Okta refused the API token on {path} (401 {}); check [jobs.credentials.{}] (type = \"header\", prefix = \"SSWS \", token = ...)",
                error_text(&r.body),
                self.config.credential
            )),
            403 => Err(format!(
                "Okta denied {path} (403 {}): the token's admin needs read access to users and groups (okta.users.read, okta.groups.read)",
                error_text(&r.body)
            )),
            429 => {
                // The host already waited and retried as far as its cap
                // allows: ask for a later run instead.
                let secs = reset_in(r.header("x-rate-limit-reset"), r.header("date")).unwrap_or(60);
                schedule::run_again_in(secs);
                Err(format!(
                    "Okta rate limit exceeded on {path} ({}); asked for the next run in {secs} s",
                    error_text(&r.body)
                ))
            }
            s => Err(format!("Okta answered HTTP {s} for {path}: {}", error_text(&r.body))),
        }
    }

    /// Every page from `url` on, each handed to `each`.
    pub fn pages(
        &mut self,
        url: String,
        mut each: impl FnMut(Vec<Value>) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut next = Some(url);
        while let Some(url) = next.take() {
            let (body, link) = self.get(&url)?;
            match body {
                Value::Array(items) => each(items)?,
                other => {
                    return Err(format!(
                        "Okta answered {url} with {other:.100} instead of a list"
                    ))
                }
            }
            next = link;
        }
        Ok(())
    }

    pub fn all(&mut self, url: String) -> Result<Vec<Value>, String> {
        let mut out = Vec::new();
        self.pages(url, |items| {
            out.extend(items);
            Ok(())
        })?;
        Ok(out)
    }

    /// The members of group `id` (full user objects).
    pub fn members(&mut self, id: &str) -> Result<Vec<Value>, String> {
        let url = self.config.url(&format!(
            "/api/v1/groups/{id}/users?limit={}",
            self.config.page_size
        ));
        self.all(url)
    }
}

/// Percent-encode a query value.
pub fn encode(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
