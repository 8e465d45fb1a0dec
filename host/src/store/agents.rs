//! Agents and their enrolment codes (see daemon/agents). Codes and
//! credentials are kept only as hex SHA-256 digests; a code is redeemed once,
//! before it expires, in one statement, so two agents racing with one code
//! cannot both enrol.

use anyhow::Result;
use serde::Serialize;
use utoipa::ToSchema;

use super::db::on_pool;
use super::{now, Store};

/// An enrolled agent as the API shows it (never its credential).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AgentRow {
    pub id: String,
    pub tenant: String,
    pub name: String,
    pub created_at: String,
    /// When it last called the server (poll, batch, finish).
    pub last_seen: Option<String>,
    /// The usersync version it reported.
    pub version: Option<String>,
    /// The jobs it said it serves.
    pub jobs: Vec<String>,
    /// The last error it reported or a run of it ended with.
    pub last_error: Option<String>,
    /// The only jobs it may serve (from its enrolment code); `None`: every
    /// agent job of its tenant.
    pub allowed_jobs: Option<Vec<String>>,
}

type Row = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

const COLUMNS: &str =
    "id, tenant_id, name, created_at, last_seen, version, jobs, last_error, allowed_jobs";

fn jobs_list(json: Option<String>) -> Option<Vec<String>> {
    json.and_then(|j| serde_json::from_str(&j).ok())
}

fn row(
    (id, tenant, name, created_at, last_seen, version, jobs, last_error, allowed): Row,
) -> AgentRow {
    AgentRow {
        id,
        tenant,
        name,
        created_at,
        last_seen,
        version,
        jobs: jobs_list(jobs).unwrap_or_default(),
        last_error,
        allowed_jobs: jobs_list(allowed),
    }
}

impl Store {
    /// Keep an enrolment code (by digest) for `tenant` until `expires_at`;
    /// `jobs` limits the agent it enrols to those jobs.
    pub async fn create_enrollment(
        &self,
        tenant: &str,
        code_sha256: &str,
        expires_at: &str,
        jobs: Option<&[String]>,
    ) -> Result<()> {
        let jobs = jobs.map(serde_json::to_string).transpose()?;
        on_pool!(&self.backend, |p| {
            sqlx::query(
                "INSERT INTO agent_enrollments (code_sha256, tenant_id, created_at, expires_at, jobs) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(code_sha256)
            .bind(tenant)
            .bind(now())
            .bind(expires_at)
            .bind(&jobs)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Use up the code with this digest: its tenant and jobs (a JSON
    /// array, or `None`: every agent job), or `None` if it is unknown,
    /// used or expired.
    pub async fn redeem_enrollment(
        &self,
        code_sha256: &str,
    ) -> Result<Option<(String, Option<String>)>> {
        let at = now();
        Ok(on_pool!(&self.backend, |p| {
            sqlx::query_as::<_, (String, Option<String>)>(
                "UPDATE agent_enrollments SET used_at = $2 WHERE code_sha256 = $1 AND used_at IS NULL AND expires_at > $2 RETURNING tenant_id, jobs",
            )
            .bind(code_sha256)
            .bind(&at)
            .fetch_optional(p)
            .await?
        }))
    }

    /// Record a new agent of `tenant` with its credential's digest and the
    /// jobs it may serve (JSON array; `None`: every agent job).
    pub async fn create_agent(
        &self,
        id: &str,
        tenant: &str,
        name: &str,
        token_sha256: &str,
        allowed_jobs: Option<&str>,
    ) -> Result<()> {
        on_pool!(&self.backend, |p| {
            sqlx::query(
                "INSERT INTO agents (id, tenant_id, name, token_sha256, created_at, allowed_jobs) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(tenant)
            .bind(name)
            .bind(token_sha256)
            .bind(now())
            .bind(allowed_jobs)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// The agent whose credential has this digest (revoked ones are gone).
    pub async fn agent_by_token(&self, token_sha256: &str) -> Result<Option<AgentRow>> {
        let sql = format!("SELECT {COLUMNS} FROM agents WHERE token_sha256 = $1");
        Ok(on_pool!(&self.backend, |p| {
            sqlx::query_as::<_, Row>(&sql)
                .bind(token_sha256)
                .fetch_optional(p)
                .await?
        })
        .map(row))
    }

    /// Every agent of `tenant` (every agent: `None`), by tenant and name.
    pub async fn agents(&self, tenant: Option<&str>) -> Result<Vec<AgentRow>> {
        let filter = if tenant.is_some() {
            "WHERE tenant_id = $1"
        } else {
            ""
        };
        let sql = format!("SELECT {COLUMNS} FROM agents {filter} ORDER BY tenant_id, name, id");
        let rows = on_pool!(&self.backend, |p| {
            let mut q = sqlx::query_as::<_, Row>(&sql);
            if let Some(t) = tenant {
                q = q.bind(t);
            }
            q.fetch_all(p).await?
        });
        Ok(rows.into_iter().map(row).collect())
    }

    /// Note that the agent called: when, its version and jobs.
    pub async fn agent_seen(&self, id: &str, version: &str, jobs: &[String]) -> Result<()> {
        let jobs = serde_json::to_string(jobs)?;
        on_pool!(&self.backend, |p| {
            sqlx::query("UPDATE agents SET last_seen = $2, version = $3, jobs = $4 WHERE id = $1")
                .bind(id)
                .bind(now())
                .bind(version)
                .bind(&jobs)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Keep the agent's last error (`None` clears it).
    pub async fn agent_error(&self, id: &str, error: Option<&str>) -> Result<()> {
        on_pool!(&self.backend, |p| {
            sqlx::query("UPDATE agents SET last_error = $2 WHERE id = $1")
                .bind(id)
                .bind(error)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Revoke (delete) `tenant`'s agent `id`; `false` if there is none.
    pub async fn revoke_agent(&self, tenant: &str, id: &str) -> Result<bool> {
        let done = on_pool!(&self.backend, |p| {
            sqlx::query("DELETE FROM agents WHERE tenant_id = $1 AND id = $2")
                .bind(tenant)
                .bind(id)
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }
}
