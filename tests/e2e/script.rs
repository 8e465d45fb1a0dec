//! Builders for the scripted connector's `[source]` and small queries on
//! the store, shared by the behaviour tests.

use serde_json::{json, Value};
use usersync_host::store::{AuditFilter, AuditRow, RunRecord, UserRow};

use crate::env::TestEnv;

/// A source user: id and `uid` (the default mapper's username).
pub fn user(id: &str, uid: &str) -> Value {
    json!({ "id": id, "attributes": { "uid": uid } })
}

/// A source user with more attributes (`uid` included unless given).
pub fn user_with(id: &str, uid: &str, attributes: Value) -> Value {
    let mut u = user(id, uid);
    for (k, v) in attributes.as_object().unwrap() {
        u["attributes"][k] = v.clone();
    }
    u
}

/// `user` with extra top-level keys (enabled, member_of, ref_key).
pub fn with(mut u: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        u[k] = v.clone();
    }
    u
}

/// A source group with direct members (user or group refs).
pub fn group(id: &str, name: &str, members: &[&str]) -> Value {
    json!({ "id": id, "name": name, "members": members })
}

/// A full-read script: these users and groups.
pub fn source(users: Vec<Value>, groups: Vec<Value>) -> Value {
    json!({ "users": users, "groups": groups })
}

impl TestEnv {
    pub async fn users(&self) -> Vec<UserRow> {
        self.host().await.store.users(None).await.unwrap()
    }

    /// The user row with this username (active or not).
    pub async fn user(&self, username: &str) -> UserRow {
        let users = self.users().await;
        users
            .iter()
            .find(|u| u.username == username)
            .cloned()
            .unwrap_or_else(|| {
                let names: Vec<_> = users.iter().map(|u| u.username.as_str()).collect();
                panic!("no user {username:?}; the store has {names:?}")
            })
    }

    /// Group names a user is a member of, sorted.
    pub async fn groups_of(&self, username: &str) -> Vec<String> {
        let mut names: Vec<String> = self.user(username).await.groups;
        names.sort();
        names
    }

    /// Usernames of active users, sorted.
    pub async fn active(&self) -> Vec<String> {
        let mut names: Vec<_> = self
            .users()
            .await
            .into_iter()
            .filter(|u| u.active)
            .map(|u| u.username)
            .collect();
        names.sort();
        names
    }

    /// Groups as the store holds them: (row id, name, active), by name.
    pub async fn groups(&self) -> Vec<(i64, String, bool)> {
        let host = self.host().await;
        crate::on_store!(host.store, |p| {
            sqlx::query_as("SELECT id, name, active FROM groups ORDER BY name")
                .fetch_all(p)
                .await
                .unwrap()
        })
    }

    /// Every audit event, newest first, with this filter (limit 1000).
    pub async fn audit(&self, filter: AuditFilter) -> Vec<AuditRow> {
        let filter = AuditFilter {
            limit: 1000,
            ..filter
        };
        self.host().await.store.audit(&filter).await.unwrap()
    }

    /// Audit events of one run.
    pub async fn audit_of_run(&self, run: &str) -> Vec<AuditRow> {
        let mut events = self.audit(AuditFilter::default()).await;
        events.retain(|e| e.run_id.as_deref() == Some(run));
        events
    }

    pub async fn run_record(&self, id: &str) -> RunRecord {
        self.host().await.store.run(id).await.unwrap().unwrap()
    }

    /// The job's stored cursor.
    pub async fn cursor(&self) -> Option<String> {
        let host = self.host().await;
        host.store.job_cursor("default", "people").await.unwrap().0
    }
}
