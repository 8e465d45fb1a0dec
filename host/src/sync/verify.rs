//! `verify-password`: does this password open this synced user's directory
//! account? One LDAP simple bind as the user, on the job's configured
//! server; the password goes to the server and nowhere else (no plugin, no
//! log, no run record).

use anyhow::{bail, Result};
use serde::Serialize;

use super::Host;
use crate::runtime::ldap::{self, Stage};

/// The answer. `valid: false` carries the directory's reason (wrong
/// password, locked, disabled, ...); an unreachable server is an error,
/// not a "no".
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct PasswordCheck {
    pub valid: bool,
    pub reason: String,
}

fn no(reason: impl Into<String>) -> PasswordCheck {
    PasswordCheck {
        valid: false,
        reason: reason.into(),
    }
}

impl Host {
    pub async fn verify_password(
        &self,
        tenant: Option<&str>,
        job_id: &str,
        username: &str,
        password: &str,
    ) -> Result<PasswordCheck> {
        let config = self.config();
        let job = config.job(tenant, job_id)?;
        let Some(conn) = job.ldap.clone() else {
            bail!(
                "job {job_id:?} has no [jobs.ldap] server; verify-password binds to the directory the job syncs from"
            );
        };
        let conn = crate::config::LdapConnection {
            ca_file: conn.ca_file.map(|f| config.resolve(&f)),
            ..conn
        };
        let row = self
            .store
            .synced_user(&job.tenant, &job.id, username)
            .await?;
        let Some((dn, active)) = row else {
            return Ok(no(format!(
                "no user {username:?} was synced by job {job_id:?}"
            )));
        };
        if !active {
            return Ok(no(format!("{username} is deactivated")));
        }
        if dn.is_empty() {
            bail!("the connector of job {job_id:?} recorded no DN for {username}; run a full sync");
        }
        let mut client = ldap::open_connection(&conn)
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        let outcome = ldap::bind(&mut client, &dn, password).await;
        let _ = client.unbind().await;
        match outcome {
            Ok(()) => Ok(PasswordCheck {
                valid: true,
                reason: "the directory accepted the password".into(),
            }),
            Err(e) if e.stage == Stage::Bind => Ok(no(e.message)),
            Err(e) => bail!(e.message),
        }
    }
}
