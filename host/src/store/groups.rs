//! Reading groups for the admin API.

use anyhow::Result;
use serde::Serialize;

use super::Store;

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct GroupRow {
    pub id: i64,
    pub tenant_id: String,
    pub job_id: String,
    pub source_id: String,
    pub name: String,
    pub description: Option<String>,
    pub active: bool,
    /// Effective (nested groups resolved) member count.
    pub members: i64,
}

impl Store {
    pub async fn groups(&self, tenant: Option<&str>) -> Result<Vec<GroupRow>> {
        Ok(sqlx::query_as(
            "SELECT g.id, g.tenant_id, g.job_id, g.source_id, g.name, g.description, g.active,
                    (SELECT count(*) FROM memberships ms WHERE ms.group_id = g.id) AS members
             FROM groups g WHERE ?1 IS NULL OR g.tenant_id = ?1 ORDER BY g.name",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?)
    }
}
