//! `connector = "graph"`: users and groups of a Microsoft Entra ID tenant
//! through Microsoft Graph, over the host's brokered `http` (the host holds
//! the client secret and adds the OAuth2 token).
//!
//! Full and incremental runs both use delta queries (`/users/delta`,
//! `/groups/delta`): a full run starts a new round and reads everything, an
//! incremental run resumes from the delta links stored as the cursor. Group
//! members are read with `transitiveMembers` (nested groups resolved by
//! Graph); a group whose membership changed is re-sent whole, together with
//! the groups that contain it.

mod client;
mod config;
mod parse;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde_json::Value;
use usersync_sdk::{
    export_connector, host, log, Check, Connector, ObjectKind, ReadMode, ReadSummary, SourceObject,
};

use client::{Fail, Graph};
pub use config::Config;
use parse::{Change, Cursor, USER_FIELDS};

struct GraphConnector;

fn user_select() -> String {
    format!("id,{},manager", USER_FIELDS.join(","))
}

/// Sends batches of `size` through `put`, counting what was sent.
struct Batcher {
    batch: Vec<SourceObject>,
    size: usize,
    sent: u64,
    put: fn(&[SourceObject]) -> Result<(), String>,
}

impl Batcher {
    fn new(size: usize, put: fn(&[SourceObject]) -> Result<(), String>) -> Self {
        Batcher {
            batch: Vec::new(),
            size,
            sent: 0,
            put,
        }
    }
    fn push(&mut self, o: SourceObject) -> Result<(), String> {
        self.batch.push(o);
        if self.batch.len() >= self.size {
            self.flush()?;
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<(), String> {
        if !self.batch.is_empty() {
            (self.put)(&self.batch).map_err(|e| format!("the host refused a batch: {e}"))?;
            self.sent += self.batch.len() as u64;
            self.batch.clear();
        }
        Ok(())
    }
}

/// One delta round over `collection` from `start`; a 410 (expired token)
/// restarts it from scratch, which is safe: a round only adds and updates.
fn delta_round(
    g: &Graph,
    start: String,
    fresh: &str,
    mut each: impl FnMut(Vec<Value>) -> Result<(), String>,
) -> Result<Option<String>, String> {
    match g.pages(start, &mut each) {
        Err(Fail::Gone) => {
            log::warn("the Graph delta token expired; reading that collection anew");
            g.pages(fresh.to_string(), each).map_err(|f| f.text(fresh))
        }
        other => other.map_err(|f| f.text("delta query")),
    }
}

fn read_users(
    g: &Graph,
    cursor: Option<String>,
    batch_size: usize,
) -> Result<(u64, Option<String>), String> {
    let fresh = g.url(&format!("/users/delta?$select={}", user_select()));
    let mut users = Batcher::new(batch_size, host::target::put_users);
    let mut removed = Vec::new();
    let link = delta_round(
        g,
        cursor.unwrap_or_else(|| fresh.clone()),
        &fresh,
        |items| {
            for item in items {
                match parse::change(&item) {
                    Some(Change::Removed(id)) => removed.push(id),
                    Some(Change::Present { complete: true, .. }) => {
                        users.push(parse::user(&item).expect("has an id"))?
                    }
                    // Graph sent only the changed properties: read the whole user.
                    Some(Change::Present {
                        id,
                        complete: false,
                    }) => {
                        let url = g.url(&format!(
                            "/users/{id}?$select=id,{}&$expand=manager($select=id)",
                            USER_FIELDS.join(",")
                        ));
                        match g.get(&url) {
                            Ok(full) => users.push(parse::user(&full).expect("has an id"))?,
                            Err(Fail::NotFound) => removed.push(id),
                            Err(f) => return Err(f.text(&url)),
                        }
                    }
                    None => log::warn("a Graph user without an id was skipped"),
                }
            }
            Ok(())
        },
    )?;
    users.flush()?;
    if !removed.is_empty() {
        host::target::remove(ObjectKind::User, &removed)?;
    }
    Ok((users.sent, link))
}

fn read_groups(
    g: &Graph,
    cursor: Option<String>,
    batch_size: usize,
) -> Result<(u64, Option<String>), String> {
    let incremental = cursor.is_some();
    let fresh = g.url("/groups/delta?$select=displayName,description,members");
    // id -> the group's JSON (null when only its members changed)
    let mut changed: BTreeMap<String, Value> = BTreeMap::new();
    let mut removed = Vec::new();
    let link = delta_round(
        g,
        cursor.unwrap_or_else(|| fresh.clone()),
        &fresh,
        |items| {
            for item in items {
                match parse::change(&item) {
                    Some(Change::Removed(id)) => removed.push(id),
                    Some(Change::Present { id, complete }) => {
                        changed.insert(id, if complete { item } else { Value::Null });
                    }
                    None => {}
                }
            }
            Ok(())
        },
    )?;
    // A changed membership also changes every group that nests this one.
    if incremental {
        for id in changed.keys().cloned().collect::<Vec<_>>() {
            let url = g.url(&format!(
                "/groups/{id}/transitiveMemberOf/microsoft.graph.group?$select=id,displayName,description"
            ));
            for parent in g.all(url.clone()).map_err(|f| f.text(&url))? {
                if let Some(pid) = parent["id"].as_str() {
                    changed.entry(pid.to_string()).or_insert(parent);
                }
            }
        }
    }
    let mut groups = Batcher::new(batch_size, host::target::put_groups);
    for (id, mut item) in changed {
        if item.is_null() {
            let url = g.url(&format!("/groups/{id}?$select=id,displayName,description"));
            item = match g.get(&url) {
                Ok(v) => v,
                Err(Fail::NotFound) => {
                    removed.push(id);
                    continue;
                }
                Err(f) => return Err(f.text(&url)),
            };
        }
        let members = match g.member_ids(&id) {
            Ok(m) => m,
            Err(Fail::NotFound) => {
                removed.push(id);
                continue;
            }
            Err(f) => return Err(f.text("group members")),
        };
        groups.push(parse::group(&item, members).expect("has an id"))?;
    }
    groups.flush()?;
    if !removed.is_empty() {
        host::target::remove(ObjectKind::Group, &removed)?;
    }
    Ok((groups.sent, link))
}

/// One test-connection stage: GET `url` and describe the answer.
fn probe(g: &Graph, stage: &str, url: &str, ok: impl FnOnce(&Value) -> String) -> Check {
    match g.get(url) {
        Ok(v) => Check::ok(stage, ok(&v)),
        Err(f) => Check::failed(stage, f.text(url)),
    }
}

impl Connector for GraphConnector {
    const NAME: &'static str = "graph";
    const DESCRIPTION: &'static str =
        "Users and groups of Microsoft Entra ID through Microsoft Graph (delta queries)";
    const CAPABILITIES: &'static [&'static str] = &["http", "incremental"];
    type Config = Config;

    fn test_connection(config: Config) -> Vec<Check> {
        if let Err(e) = config.validate() {
            return vec![Check::failed("configuration", e)];
        }
        let g = Graph { config: &config };
        let mut checks = vec![Check::ok("configuration", "parsed")];
        let users = probe(&g, "users", &g.url("/users?$top=1&$select=id"), |_| {
            "signed in with the app's client credentials; users are readable (User.Read.All)".into()
        });
        let failed = matches!(users.status, usersync_sdk::CheckStatus::Failed);
        checks.push(users);
        if failed || !config.groups {
            return checks;
        }
        let mut first_group = None;
        checks.push(probe(
            &g,
            "groups",
            &g.url("/groups?$top=1&$select=id"),
            |v| {
                first_group = v["value"][0]["id"].as_str().map(String::from);
                "groups are readable (Group.Read.All)".into()
            },
        ));
        if let Some(id) = first_group {
            let url = g.url(&format!("/groups/{id}/transitiveMembers?$top=1&$select=id"));
            checks.push(probe(&g, "group members", &url, |_| {
                "group members are readable (GroupMember.Read.All)".into()
            }));
        }
        checks
    }

    fn read(config: Config, mode: ReadMode) -> Result<ReadSummary, String> {
        config.validate()?;
        let g = Graph { config: &config };
        let cursor = match &mode {
            ReadMode::Full => Cursor::default(),
            ReadMode::Incremental(text) => Cursor::decode(text, config.base()).unwrap_or_else(|| {
                log::warn("the stored cursor is not a Graph delta link for this graph_url; reading everything (nothing is deactivated until the next full run)");
                Cursor::default()
            }),
        };
        let (users, users_link) = read_users(&g, cursor.users, config.batch_size)?;
        let (groups, groups_link) = if config.groups {
            read_groups(&g, cursor.groups, config.batch_size)?
        } else {
            (0, None)
        };
        let next = Cursor {
            users: users_link,
            groups: groups_link,
        };
        host::target::checkpoint(&next.encode())
            .map_err(|e| format!("the host refused the checkpoint: {e}"))?;
        log::info(&format!(
            "read {users} users and {groups} groups from Graph"
        ));
        Ok(ReadSummary {
            users,
            groups,
            complete: true,
        })
    }
}

export_connector!(GraphConnector);
