//! Tenants, jobs and tenant plugins made through the admin API. They live in
//! the store, not in a node's config file, so every `serve` process on one
//! store serves them. Every write bumps `managed_version` in its own
//! transaction; nodes poll that number to notice each other's changes.

use anyhow::{bail, Result};

use super::db::{on_pool, on_tx};
use super::{now, Store};

/// A tenant made through the API, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedTenant {
    pub id: String,
    /// Hex SHA-256 of its API token (the token itself is never stored).
    pub token_sha256: Option<String>,
    /// JSON object: license kind -> seats.
    pub licenses: String,
    /// JSON object as `[tenants.limits]`, if set.
    pub limits: Option<String>,
    pub disabled: bool,
}

/// A job made through the API: its JSON body with the secrets sealed.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedJob {
    pub tenant: String,
    pub id: String,
    pub body: String,
}

/// A tenant plugin uploaded through the API (its bytes are fetched apart).
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedPlugin {
    pub tenant: String,
    pub name: String,
    pub sha256: String,
}

/// Everything made through the API, at one version.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Managed {
    pub version: i64,
    pub tenants: Vec<ManagedTenant>,
    pub jobs: Vec<ManagedJob>,
    pub plugins: Vec<ManagedPlugin>,
}

type TenantRow = (String, Option<String>, String, Option<String>, bool);

impl Store {
    /// The version counter: it changes whenever anything managed changes.
    pub async fn managed_version(&self) -> Result<i64> {
        Ok(on_pool!(&self.backend, |p| {
            sqlx::query_scalar::<_, i64>("SELECT version FROM managed_version WHERE id = 1")
                .fetch_one(p)
                .await?
        }))
    }

    /// Everything managed, read in one transaction so it is one version.
    pub async fn managed(&self) -> Result<Managed> {
        let mut tx = self.backend.begin_deferred().await?;
        let (version, tenants, jobs, plugins) = on_tx!(&mut tx, |c| {
            let version: i64 =
                sqlx::query_scalar("SELECT version FROM managed_version WHERE id = 1")
                    .fetch_one(&mut *c)
                    .await?;
            let tenants: Vec<TenantRow> = sqlx::query_as(
                "SELECT id, token_sha256, licenses, limits, disabled FROM managed_tenants ORDER BY id",
            )
            .fetch_all(&mut *c)
            .await?;
            let jobs: Vec<(String, String, String)> = sqlx::query_as(
                "SELECT tenant_id, id, body FROM managed_jobs ORDER BY tenant_id, id",
            )
            .fetch_all(&mut *c)
            .await?;
            let plugins: Vec<(String, String, String)> = sqlx::query_as(
                "SELECT tenant_id, name, sha256 FROM managed_plugins ORDER BY tenant_id, name",
            )
            .fetch_all(&mut *c)
            .await?;
            (version, tenants, jobs, plugins)
        });
        tx.commit().await?;
        Ok(Managed {
            version,
            tenants: tenants
                .into_iter()
                .map(
                    |(id, token_sha256, licenses, limits, disabled)| ManagedTenant {
                        id,
                        token_sha256,
                        licenses,
                        limits,
                        disabled,
                    },
                )
                .collect(),
            jobs: jobs
                .into_iter()
                .map(|(tenant, id, body)| ManagedJob { tenant, id, body })
                .collect(),
            plugins: plugins
                .into_iter()
                .map(|(tenant, name, sha256)| ManagedPlugin {
                    tenant,
                    name,
                    sha256,
                })
                .collect(),
        })
    }

    /// Create (`create`) or replace a managed tenant. Creating one that
    /// exists is refused.
    pub async fn put_managed_tenant(&self, t: &ManagedTenant, create: bool) -> Result<()> {
        let at = now();
        let mut tx = self.backend.begin().await?;
        let exists: Option<String> = on_tx!(&mut tx, |c| {
            sqlx::query_scalar("SELECT id FROM managed_tenants WHERE id = $1")
                .bind(&t.id)
                .fetch_optional(&mut *c)
                .await?
        });
        if create && exists.is_some() {
            bail!("tenant {:?} exists already", t.id);
        }
        if !create && exists.is_none() {
            bail!("no tenant {:?}", t.id);
        }
        on_tx!(&mut tx, |c| {
            sqlx::query(
                "INSERT INTO managed_tenants (id, token_sha256, licenses, limits, disabled, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) \
                 ON CONFLICT (id) DO UPDATE SET token_sha256 = $2, licenses = $3, limits = $4, disabled = $5, updated_at = $6",
            )
            .bind(&t.id)
            .bind(&t.token_sha256)
            .bind(&t.licenses)
            .bind(&t.limits)
            .bind(t.disabled)
            .bind(&at)
            .execute(&mut *c)
            .await?;
        });
        bump(&mut tx).await?;
        tx.commit().await
    }

    /// Remove a managed tenant with its jobs and plugins; `false` if there
    /// was none. The tenant's users and run history stay in the store.
    pub async fn delete_managed_tenant(&self, id: &str) -> Result<bool> {
        let mut tx = self.backend.begin().await?;
        let gone = on_tx!(&mut tx, |c| {
            sqlx::query("DELETE FROM managed_jobs WHERE tenant_id = $1")
                .bind(id)
                .execute(&mut *c)
                .await?;
            sqlx::query("DELETE FROM managed_plugins WHERE tenant_id = $1")
                .bind(id)
                .execute(&mut *c)
                .await?;
            sqlx::query("DELETE FROM managed_tenants WHERE id = $1")
                .bind(id)
                .execute(&mut *c)
                .await?
                .rows_affected()
        });
        bump(&mut tx).await?;
        tx.commit().await?;
        Ok(gone > 0)
    }

    /// Create or replace a managed job (its body already sealed).
    pub async fn put_managed_job(&self, job: &ManagedJob) -> Result<()> {
        let mut tx = self.backend.begin().await?;
        on_tx!(&mut tx, |c| {
            sqlx::query(
                "INSERT INTO managed_jobs (tenant_id, id, body, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tenant_id, id) DO UPDATE SET body = $3, updated_at = $4",
            )
            .bind(&job.tenant)
            .bind(&job.id)
            .bind(&job.body)
            .bind(now())
            .execute(&mut *c)
            .await?;
        });
        bump(&mut tx).await?;
        tx.commit().await
    }

    pub async fn delete_managed_job(&self, tenant: &str, id: &str) -> Result<bool> {
        self.delete_and_bump(
            "DELETE FROM managed_jobs WHERE tenant_id = $1 AND id = $2",
            tenant,
            id,
        )
        .await
    }

    /// Store a tenant plugin's bytes (already validated).
    pub async fn put_managed_plugin(&self, p: &ManagedPlugin, wasm: &[u8]) -> Result<()> {
        let mut tx = self.backend.begin().await?;
        on_tx!(&mut tx, |c| {
            sqlx::query(
                "INSERT INTO managed_plugins (tenant_id, name, wasm, sha256, updated_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (tenant_id, name) DO UPDATE SET wasm = $3, sha256 = $4, updated_at = $5",
            )
            .bind(&p.tenant)
            .bind(&p.name)
            .bind(wasm)
            .bind(&p.sha256)
            .bind(now())
            .execute(&mut *c)
            .await?;
        });
        bump(&mut tx).await?;
        tx.commit().await
    }

    /// The bytes of a tenant plugin, if it is still stored.
    pub async fn managed_plugin_bytes(&self, tenant: &str, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(on_pool!(&self.backend, |p| {
            sqlx::query_scalar(
                "SELECT wasm FROM managed_plugins WHERE tenant_id = $1 AND name = $2",
            )
            .bind(tenant)
            .bind(name)
            .fetch_optional(p)
            .await?
        }))
    }

    pub async fn delete_managed_plugin(&self, tenant: &str, name: &str) -> Result<bool> {
        self.delete_and_bump(
            "DELETE FROM managed_plugins WHERE tenant_id = $1 AND name = $2",
            tenant,
            name,
        )
        .await
    }

    async fn delete_and_bump(&self, sql: &'static str, a: &str, b: &str) -> Result<bool> {
        let mut tx = self.backend.begin().await?;
        let gone = on_tx!(&mut tx, |c| {
            sqlx::query(sql)
                .bind(a)
                .bind(b)
                .execute(&mut *c)
                .await?
                .rows_affected()
        });
        bump(&mut tx).await?;
        tx.commit().await?;
        Ok(gone > 0)
    }
}

/// One more change: other nodes see the new number and reload.
async fn bump(tx: &mut super::db::Tx<'_>) -> Result<()> {
    on_tx!(tx, |c| {
        sqlx::query("UPDATE managed_version SET version = version + 1 WHERE id = 1")
            .execute(&mut *c)
            .await?;
    });
    Ok(())
}
