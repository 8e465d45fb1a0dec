//! {{name}}: a usersync connector. `read` sends the source's users (and
//! groups) to the host in batches and says whether it read everything; the
//! host diffs, maps and applies. This one reads users listed in the job's
//! `[jobs.source]` table: replace `fetch` with your source (an HTTP API
//! through `usersync_sdk::host::http`, a file under `/input`, ...).

use serde::Deserialize;
use usersync_sdk::{
    export_connector, host, Check, Connector, ObjectKind, ReadMode, ReadSummary, SourceObject,
};

/// The job's `[jobs.source]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    users: Vec<User>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct User {
    /// Immutable id: users are matched by it, so renames stay renames.
    id: String,
    uid: String,
    #[serde(default)]
    mail: Option<String>,
    #[serde(default = "yes")]
    enabled: bool,
}

fn yes() -> bool {
    true
}

/// How many records go to the host per call.
const BATCH: usize = 500;

pub struct Plugin;

/// The source's users as records (attributes named as the source names them).
pub fn fetch(config: &Config) -> Vec<SourceObject> {
    config
        .users
        .iter()
        .map(|u| {
            let mut o = SourceObject::new(ObjectKind::User, u.id.clone())
                .with_text("uid", vec![u.uid.clone()]);
            if let Some(mail) = &u.mail {
                o.push_text("mail", vec![mail.clone()]);
            }
            o.enabled = u.enabled;
            o
        })
        .collect()
}

impl Connector for Plugin {
    const NAME: &'static str = "{{name}}";
    const DESCRIPTION: &'static str = "{{name}}: users from the job's [source] table";
    type Config = Config;

    fn test_connection(config: Config) -> Vec<Check> {
        vec![Check::ok(
            "configuration",
            format!("{} users configured", config.users.len()),
        )]
    }

    fn read(config: Config, _mode: ReadMode) -> Result<ReadSummary, String> {
        // Without a cursor every read is full; see the SDK docs for
        // incremental reads (`host::target::checkpoint`).
        let users = fetch(&config);
        for batch in users.chunks(BATCH) {
            host::target::put_users(batch)?;
        }
        Ok(ReadSummary {
            users: users.len() as u64,
            groups: 0,
            complete: true,
        })
    }
}

export_connector!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_users_become_records_with_their_ids() {
        let config: Config = serde_json::from_str(
            r#"{"users": [{"id": "e-1", "uid": "ada", "mail": "ada@example.com"}]}"#,
        )
        .unwrap();
        let records = fetch(&config);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].id, "e-1");
        assert_eq!(records[0].text("uid"), Some("ada"));
    }
}
