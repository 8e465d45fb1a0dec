//! A job's configuration: its tenant, source, grants, mapping, sync policy,
//! role bindings and notifications.

use std::collections::BTreeMap;

use serde::Deserialize;

use std::path::PathBuf;

use super::{Credential, LdapConnection, RetryPolicy};
use crate::secret::Secret;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    pub id: String,
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// Connector plugin name (its manifest name, e.g. "csv").
    pub connector: String,
    /// Mapper chain; later mappers' fields override earlier ones.
    #[serde(default = "default_mappers")]
    pub mappers: Vec<String>,
    /// Passed to the connector as JSON.
    #[serde(default)]
    pub source: toml::Table,
    /// Passed to every mapper as JSON.
    #[serde(default)]
    pub mapping: toml::Table,
    #[serde(default)]
    pub grants: Grants,
    /// The directory server the connector's LDAP searches go to (the host
    /// connects and binds; the plugin never sees the password).
    pub ldap: Option<LdapConnection>,
    #[serde(default)]
    pub sync: SyncPolicy,
    #[serde(default)]
    pub roles: Vec<RoleBinding>,
    #[serde(default)]
    pub notify: Notify,
    /// Secrets the host injects into brokered requests, by name. Values are
    /// `{ env = "VAR" }` or `{ value = "..." }`; never passed to plugins.
    /// A name here that a plugin uses as `request.credential` (and that is
    /// not in `credentials`) is sent as `Authorization: Bearer <secret>`.
    #[serde(default)]
    pub secrets: BTreeMap<String, Secret>,
    /// How the host authenticates brokered HTTP requests, by name
    /// (`[jobs.credentials.NAME]`, see config/credentials.rs).
    #[serde(default)]
    pub credentials: BTreeMap<String, Credential>,
    /// When `usersync serve` runs the job: a cron expression (five fields,
    /// local time), e.g. `"*/15 * * * *"`, or `interval_seconds`. Neither:
    /// only when triggered.
    pub schedule: Option<String>,
    pub interval_seconds: Option<u64>,
    /// Retries of failed runs (exponential backoff with a cap).
    #[serde(default)]
    pub retry: RetryPolicy,
    /// Where the connector runs: `host` (in this process) or `agent` (in
    /// an agent of the tenant, inside the directory's network, which sends
    /// what it reads here; see README "Agent mode").
    #[serde(default)]
    pub runs_on: RunsOn,
}

/// Where a job's connector runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunsOn {
    #[default]
    Host,
    Agent,
}

pub(super) fn default_tenant() -> String {
    "default".into()
}

fn default_mappers() -> Vec<String> {
    vec!["default-mapper".into()]
}

/// Capabilities granted to the job's connector; everything else is denied.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// A folder mounted read-only at `/input` inside the connector.
    pub input_dir: Option<PathBuf>,
    /// `scheme://host:port` destinations the connector may reach over HTTP.
    #[serde(default)]
    pub http: Vec<String>,
    /// Extra PEM CA certificate(s) trusted for brokered HTTPS (e.g. a test
    /// server's); the public web roots stay trusted and TLS is always verified.
    pub http_ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncPolicy {
    /// Link locally created users with the same username instead of
    /// reporting a conflict.
    pub adopt_by_username: bool,
    /// Target fields a user must have besides username and id.
    pub required: Vec<String>,
    /// Stop before applying if more users than this would be deactivated.
    pub deactivate_threshold: Option<u64>,
    /// Stop if more than this percentage of the job's active users would be
    /// (0..=100). Both limits apply: the lower one stops the run.
    pub deactivate_threshold_percent: Option<f64>,
    /// Create users that are disabled in the source the first time they are
    /// seen, as deactivated users (default: they are not created).
    pub create_disabled: bool,
    /// A username held by a user that left the source, claimed by another
    /// source user: `release` it (the leaver is renamed `name~<hash>`) or
    /// report a `conflict`.
    pub recycled_usernames: RecycledUsernames,
    /// Stop before applying if more than this percentage of the records
    /// read were rejected (per-record errors): a broken mapping must not
    /// half-sync a directory.
    pub max_rejected_percent: f64,
    /// `all`: every user the connector reads; `groups`: only members of the
    /// selected groups.
    pub scope: ScopeMode,
    /// Which groups to sync: `all`, `none`, or `selected` (by names/pattern).
    pub groups: GroupMode,
    pub group_names: Vec<String>,
    pub group_pattern: Option<String>,
    /// Only users whose source attribute matches are in scope.
    pub user_filter: Option<UserFilter>,
    /// License kind granted to active synced users.
    pub license_kind: Option<String>,
    pub license_policy: LicensePolicy,
    /// Run a full read when the last one is older than this many hours
    /// (incremental runs cannot see deletions).
    pub full_every_hours: f64,
}

impl Default for SyncPolicy {
    fn default() -> Self {
        SyncPolicy {
            adopt_by_username: false,
            required: Vec::new(),
            deactivate_threshold: Some(500),
            deactivate_threshold_percent: Some(20.0),
            create_disabled: false,
            recycled_usernames: RecycledUsernames::Release,
            max_rejected_percent: 10.0,
            scope: ScopeMode::All,
            groups: GroupMode::All,
            group_names: Vec::new(),
            group_pattern: None,
            user_filter: None,
            license_kind: None,
            license_policy: LicensePolicy::Stop,
            full_every_hours: 24.0,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ScopeMode {
    #[default]
    All,
    Groups,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum GroupMode {
    #[default]
    All,
    None,
    Selected,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum RecycledUsernames {
    /// Rename the user who left (`name~<hash>`) so the new one gets the name.
    #[default]
    Release,
    /// Keep the name with the user who left; the new user is a conflict.
    Conflict,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum LicensePolicy {
    /// Abort the run before changing anything.
    #[default]
    Stop,
    /// Sync everyone, grant what fits, notify.
    SyncWithoutLicense,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserFilter {
    pub attribute: String,
    pub pattern: String,
}

/// Members of the matching directory group(s) hold the role.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleBinding {
    pub group: Option<String>,
    pub group_pattern: Option<String>,
    pub role: String,
    #[serde(default)]
    pub kind: RoleKind,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum RoleKind {
    #[default]
    Functional,
    Organizational,
}

impl RoleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RoleKind::Functional => "functional",
            RoleKind::Organizational => "organizational",
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// POSTed a JSON summary after each run and on license shortage.
    pub webhook: Option<String>,
}

/// A job's identity: job ids are unique only within their tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobKey {
    pub tenant: String,
    pub job: String,
}

impl JobKey {
    pub fn new(tenant: impl Into<String>, job: impl Into<String>) -> JobKey {
        JobKey {
            tenant: tenant.into(),
            job: job.into(),
        }
    }
}

impl std::fmt::Display for JobKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.tenant, self.job)
    }
}

impl JobConfig {
    pub fn key(&self) -> JobKey {
        JobKey::new(&self.tenant, &self.id)
    }
    pub fn source_json(&self) -> String {
        serde_json::to_string(&self.source).expect("TOML tables serialize to JSON")
    }
    pub fn mapping_json(&self) -> String {
        serde_json::to_string(&self.mapping).expect("TOML tables serialize to JSON")
    }
}
