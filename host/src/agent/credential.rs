//! The agent's credential file: server, tenant, agent id and the secret,
//! written with owner-only permissions (0600, temp then rename) and refused
//! on load if others can read it.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::client::Client;
use super::config::{server_url, AgentConfig};
use super::protocol::EnrollRequest;

#[derive(Serialize, Deserialize)]
pub struct Credential {
    pub server: String,
    pub tenant: String,
    pub agent_id: String,
    pub credential: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("server", &self.server)
            .field("tenant", &self.tenant)
            .field("agent_id", &self.agent_id)
            .field("credential", &"***")
            .finish()
    }
}

impl Credential {
    pub fn load(path: &Path) -> Result<Credential> {
        let meta = std::fs::metadata(path).with_context(|| {
            format!(
                "no agent credential at {}: enrol first with `usersync agent --server URL --enroll CODE`",
                path.display()
            )
        })?;
        if meta.permissions().mode() & 0o077 != 0 {
            bail!(
                "{} can be read by others: `chmod 600` it (it holds the agent's credential)",
                path.display()
            );
        }
        let text = std::fs::read_to_string(path)?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not an agent credential file", path.display()))
    }

    fn save(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension("tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(serde_json::to_string_pretty(self)?.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}

/// Exchange a one-time `code` for this agent's credential and keep it.
pub async fn enroll(config: &AgentConfig, server: Option<&str>, code: &str) -> Result<Credential> {
    let Some(server) = server.or(config.server.as_deref()) else {
        bail!("say which server to enrol with: --server https://... (or `server` in the agent config)");
    };
    let url = server_url(server)?;
    let ca = config.ca_file.as_deref().map(|f| config.resolve(f));
    let client = Client::new(&url, ca.as_deref())?;
    let name = config
        .name
        .clone()
        .unwrap_or_else(|| crate::store::Owner::current().host.clone());
    let answer = client
        .enroll(&EnrollRequest {
            code: code.trim().to_string(),
            name,
            version: env!("CARGO_PKG_VERSION").into(),
        })
        .await?;
    let cred = Credential {
        server: url.as_str().trim_end_matches('/').to_string(),
        tenant: answer.tenant,
        agent_id: answer.agent_id,
        credential: answer.credential,
    };
    let path = config.credential_path();
    cred.save(&path)?;
    Ok(cred)
}
