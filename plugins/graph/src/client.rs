//! Talking to Graph through the host's brokered `http`: the host adds the
//! OAuth2 token (credential `config.credential`), checks the destination,
//! retries 429/503; this module turns answers into pages or clear errors.

use serde_json::Value;
use usersync_sdk::host::{http, schedule};

use crate::config::Config;
use crate::parse::{error_text, permission_for, retry_after, Page};

/// Why a request did not give a page.
#[derive(Debug)]
pub enum Fail {
    /// 404: the object is gone.
    NotFound,
    /// 410: the delta token expired; start a new round.
    Gone,
    Other(String),
}

impl From<String> for Fail {
    fn from(s: String) -> Self {
        Fail::Other(s)
    }
}

impl Fail {
    pub fn text(self, what: &str) -> String {
        match self {
            Fail::NotFound => format!("{what}: not found (404)"),
            Fail::Gone => format!("{what}: the delta token expired (410)"),
            Fail::Other(s) => s,
        }
    }
}

pub struct Graph<'a> {
    pub config: &'a Config,
}

impl Graph<'_> {
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.config.base())
    }

    /// GET `url` as JSON.
    pub fn get(&self, url: &str) -> Result<Value, Fail> {
        let page_size = self
            .config
            .page_size
            .map(|n| format!("odata.maxpagesize={n}"));
        let mut headers = vec![("Accept", "application/json")];
        if let Some(p) = &page_size {
            headers.push(("Prefer", p.as_str()));
        }
        let r = http::get(url, Some(&self.config.credential), &headers)?;
        if r.is_success() {
            return r.json().map_err(Fail::Other);
        }
        let path = url.split('?').next().unwrap_or(url);
        let path = path.strip_prefix(self.config.base()).unwrap_or(path);
        Err(match r.status {
            404 => Fail::NotFound,
            410 => Fail::Gone,
            401 => Fail::Other(format!(
                "Graph refused the access token for {path} (401 {}); check the app's tenant, client id and secret in [jobs.credentials.{}]",
                error_text(&r.body),
                self.config.credential
            )),
            403 => Fail::Other(format!(
                "Graph denied {path} (403 {}): the app registration is missing the application permission {} (grant it with admin consent)",
                error_text(&r.body),
                permission_for(url)
            )),
            429 | 503 => {
                // The host already retried as far as its cap allows: ask for
                // a later run instead of hammering Graph.
                let secs = retry_after(r.header("retry-after"), 60).max(1);
                schedule::run_again_in(secs);
                Fail::Other(format!(
                    "Graph is throttling ({} on {path}); asked for the next run in {secs} s",
                    r.status
                ))
            }
            s => Fail::Other(format!("Graph answered HTTP {s} for {path}: {}", error_text(&r.body))),
        })
    }

    /// Follow `@odata.nextLink` from `url`, handing each page's items to
    /// `each`; returns the final `@odata.deltaLink` (for delta rounds).
    pub fn pages(
        &self,
        url: String,
        mut each: impl FnMut(Vec<Value>) -> Result<(), String>,
    ) -> Result<Option<String>, Fail> {
        let mut next = Some(url);
        while let Some(url) = next.take() {
            let page: Page = serde_json::from_value(self.get(&url)?)
                .map_err(|e| format!("unexpected Graph page from {url}: {e}"))?;
            each(page.value)?;
            if page.next_link.is_none() {
                return Ok(page.delta_link);
            }
            next = page.next_link;
        }
        Ok(None)
    }

    /// Every item of a (paged) collection.
    pub fn all(&self, url: String) -> Result<Vec<Value>, Fail> {
        let mut out = Vec::new();
        self.pages(url, |items| {
            out.extend(items);
            Ok(())
        })?;
        Ok(out)
    }

    /// The user ids in group `id`, nested groups resolved by Graph.
    pub fn member_ids(&self, id: &str) -> Result<Vec<String>, Fail> {
        let url = self.url(&format!(
            "/groups/{id}/transitiveMembers/microsoft.graph.user?$select=id"
        ));
        Ok(crate::parse::user_ids(&self.all(url)?).collect())
    }
}
