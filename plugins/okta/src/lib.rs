//! `connector = "okta"`: users and groups of an Okta org over the host's
//! brokered `http` (the host holds the API token and adds it as
//! `Authorization: SSWS <token>`).
//!
//! A full run lists every user and group (`Link` paging) and each group's
//! members. An incremental run reads users with `lastUpdated` after the
//! cursor (a `search`, which also returns DEPROVISIONED users, so they are
//! deactivated) and groups whose profile or membership changed, re-sent
//! with their whole membership. The cursor is the server's own time at the
//! start of the read. With a group assignment scope (`groups` or `app_id`)
//! every run reads the scoped groups and their members.

mod client;
mod config;
mod parse;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde_json::Value;
use usersync_sdk::{
    export_connector, host, log, Check, Connector, ReadMode, ReadSummary, SourceObject,
};

use client::{encode, Okta};
pub use config::Config;

struct OktaConnector;

fn send(
    batch: &[SourceObject],
    put: fn(&[SourceObject]) -> Result<(), String>,
    size: usize,
) -> Result<u64, String> {
    for chunk in batch.chunks(size) {
        put(chunk).map_err(|e| format!("the host refused a batch: {e}"))?;
    }
    Ok(batch.len() as u64)
}

/// The groups in scope: all, or those named in `groups` / assigned to `app_id`.
fn scoped_groups(o: &mut Okta, all: Vec<Value>) -> Result<Vec<Value>, String> {
    let c = o.config;
    if !c.scoped() {
        return Ok(all);
    }
    let mut ids = Vec::new();
    if let Some(app) = &c.app_id {
        let url = c.url(&format!("/api/v1/apps/{app}/groups?limit={}", c.page_size));
        ids = o
            .all(url)?
            .iter()
            .filter_map(|g| g["id"].as_str().map(String::from))
            .collect();
    }
    let keep: Vec<Value> = all
        .into_iter()
        .filter(|g| {
            let name = g["profile"]["name"].as_str().unwrap_or("");
            let id = g["id"].as_str().unwrap_or("");
            c.groups.iter().any(|n| n == name) || ids.iter().any(|i| i == id)
        })
        .collect();
    for name in &c.groups {
        if !keep
            .iter()
            .any(|g| g["profile"]["name"].as_str() == Some(name))
        {
            log::warn(&format!("scope: Okta has no group named {name:?}"));
        }
    }
    Ok(keep)
}

/// Groups with their member ids; members' user objects go into `users`.
fn groups_with_members(
    o: &mut Okta,
    groups: Vec<Value>,
    users: &mut BTreeMap<String, Value>,
) -> Result<Vec<SourceObject>, String> {
    let mut out = Vec::new();
    for g in groups {
        let id = g["id"].as_str().unwrap_or_default().to_string();
        let members = o.members(&id)?;
        let ids = members
            .iter()
            .filter_map(|m| m["id"].as_str().map(String::from))
            .collect();
        for m in members {
            if let Some(mid) = m["id"].as_str() {
                users.entry(mid.to_string()).or_insert(m);
            }
        }
        out.extend(parse::group(&g, ids));
    }
    Ok(out)
}

impl Connector for OktaConnector {
    const NAME: &'static str = "okta";
    const DESCRIPTION: &'static str =
        "Users and groups of an Okta org (API token, lastUpdated for incremental runs)";
    const CAPABILITIES: &'static [&'static str] = &["http", "incremental"];
    type Config = Config;

    fn test_connection(config: Config) -> Vec<Check> {
        if let Err(e) = config.validate() {
            return vec![Check::failed("configuration", e)];
        }
        let mut o = Okta {
            config: &config,
            first_date: None,
        };
        let mut checks = vec![Check::ok("configuration", "parsed")];
        match o.get(&config.url("/api/v1/users?limit=1")) {
            Ok(_) => checks.push(Check::ok(
                "users",
                "the API token is accepted; users are readable",
            )),
            Err(e) => {
                checks.push(Check::failed("users", e));
                return checks;
            }
        }
        let groups = o.all(config.url(&format!("/api/v1/groups?limit={}", config.page_size)));
        checks.push(match groups.and_then(|g| scoped_groups(&mut o, g)) {
            Ok(g) if config.scoped() && g.is_empty() => Check::failed(
                "groups",
                "no group is in scope (check `groups` and `app_id`); nobody would be synced",
            ),
            Ok(g) => Check::ok("groups", format!("{} groups in scope", g.len())),
            Err(e) => Check::failed("groups", e),
        });
        checks
    }

    fn read(config: Config, mode: ReadMode) -> Result<ReadSummary, String> {
        config.validate()?;
        let mut o = Okta {
            config: &config,
            first_date: None,
        };
        let since = match &mode {
            ReadMode::Incremental(c) if parse::valid_cursor(c) && !config.scoped() => {
                Some(c.clone())
            }
            ReadMode::Incremental(_) if !config.scoped() => {
                log::warn("the stored cursor is not an Okta timestamp; reading everything");
                None
            }
            _ => None,
        };
        let limit = config.page_size;
        let mut users: BTreeMap<String, Value> = BTreeMap::new();
        let groups = if config.scoped() {
            let all = o.all(config.url(&format!("/api/v1/groups?limit={limit}")))?;
            let scoped = scoped_groups(&mut o, all)?;
            groups_with_members(&mut o, scoped, &mut users)?
        } else {
            let (users_url, groups_url) = match &since {
                Some(t) => (
                    format!(
                        "/api/v1/users?limit={limit}&search={}",
                        encode(&format!("lastUpdated gt \"{t}\""))
                    ),
                    format!(
                        "/api/v1/groups?limit={limit}&filter={}",
                        encode(&format!(
                            "lastUpdated gt \"{t}\" or lastMembershipUpdated gt \"{t}\""
                        ))
                    ),
                ),
                None => (
                    format!("/api/v1/users?limit={limit}"),
                    format!("/api/v1/groups?limit={limit}"),
                ),
            };
            o.pages(config.url(&users_url), |items| {
                for u in items {
                    if let Some(id) = u["id"].as_str() {
                        users.insert(id.to_string(), u);
                    }
                }
                Ok(())
            })?;
            // Member ids are enough: a full read has every user already, and
            // an unchanged member of a changed group is in the store.
            let changed = o.all(config.url(&groups_url))?;
            groups_with_members(&mut o, changed, &mut BTreeMap::new())?
        };
        let user_objects: Vec<SourceObject> = users.values().filter_map(parse::user).collect();
        let user_count = send(&user_objects, host::target::put_users, config.batch_size)?;
        let group_count = send(&groups, host::target::put_groups, config.batch_size)?;
        let cursor = o
            .first_date
            .as_deref()
            .and_then(parse::iso_from_http_date)
            .ok_or("Okta's answers carry no Date header, so there is no cursor for the next incremental run")?;
        host::target::checkpoint(&cursor)
            .map_err(|e| format!("the host refused the checkpoint: {e}"))?;
        log::info(&format!(
            "read {user_count} users and {group_count} groups from Okta"
        ));
        Ok(ReadSummary {
            users: user_count,
            groups: group_count,
            complete: true,
        })
    }
}

export_connector!(OktaConnector);
