//! The Graph connector's `[jobs.source]` table.

use serde::Deserialize;

/// `[jobs.source]` for `connector = "graph"`. The tenant, app id and secret
/// are not here: they live in the host's `[jobs.credentials.<credential>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Graph base URL, e.g. `https://graph.microsoft.com/v1.0` (national
    /// clouds have their own); its origin must be in `[jobs.grants] http`.
    #[serde(default = "default_graph_url")]
    pub graph_url: String,
    /// Name of the job's OAuth2 client-credentials credential.
    #[serde(default = "default_credential")]
    pub credential: String,
    /// Read groups and their (transitive) members.
    #[serde(default = "yes")]
    pub groups: bool,
    /// Records per batch handed to the host.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Objects per Graph page (`Prefer: odata.maxpagesize`).
    #[serde(default)]
    pub page_size: Option<u32>,
}

fn default_graph_url() -> String {
    "https://graph.microsoft.com/v1.0".into()
}
fn default_credential() -> String {
    "graph".into()
}
fn yes() -> bool {
    true
}
fn default_batch_size() -> usize {
    200
}

impl Config {
    pub fn validate(&self) -> Result<(), String> {
        if !self.graph_url.starts_with("https://") && !self.graph_url.starts_with("http://") {
            return Err(format!(
                "`graph_url` {:?} is not an http(s) URL; use e.g. \"https://graph.microsoft.com/v1.0\"",
                self.graph_url
            ));
        }
        if self.batch_size == 0 {
            return Err("`batch_size` must be at least 1 (default 200)".into());
        }
        Ok(())
    }

    /// The base URL without a trailing slash.
    pub fn base(&self) -> &str {
        self.graph_url.trim_end_matches('/')
    }
}
