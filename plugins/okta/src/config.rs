//! The Okta connector's `[jobs.source]` table.

use serde::Deserialize;

/// `[jobs.source]` for `connector = "okta"`. The API token is not here: it
/// lives in the host's `[jobs.credentials.<credential>]` (type = "header",
/// prefix = "SSWS ").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The Okta org, e.g. `https://example.okta.com`; its origin must be in
    /// `[jobs.grants] http`.
    pub domain: String,
    #[serde(default = "default_credential")]
    pub credential: String,
    /// Group assignment scope by name: only these groups and their members.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Group assignment scope by app: only the groups assigned to this app
    /// (Applications > Assignments) and their members.
    #[serde(default)]
    pub app_id: Option<String>,
    /// Objects per Okta page (`limit`, at most 200).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Records per batch handed to the host.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
}

fn default_credential() -> String {
    "okta".into()
}
fn default_page_size() -> u32 {
    200
}
fn default_batch_size() -> usize {
    200
}

impl Config {
    pub fn validate(&self) -> Result<(), String> {
        if !self.domain.starts_with("https://") && !self.domain.starts_with("http://") {
            return Err(format!(
                "`domain` {:?} must be a URL such as \"https://example.okta.com\"",
                self.domain
            ));
        }
        if self.page_size == 0 || self.page_size > 200 {
            return Err("`page_size` must be between 1 and 200".into());
        }
        if self.batch_size == 0 {
            return Err("`batch_size` must be at least 1 (default 200)".into());
        }
        Ok(())
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.domain.trim_end_matches('/'))
    }

    /// True when only some groups (and their members) are read.
    pub fn scoped(&self) -> bool {
        !self.groups.is_empty() || self.app_id.is_some()
    }
}
