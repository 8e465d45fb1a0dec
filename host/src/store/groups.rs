//! Reading groups for the admin API and `usersync groups list`.

use std::collections::HashMap;

use anyhow::Result;
use serde::Serialize;
use sqlx::QueryBuilder;

use super::db::on_pool;
use super::{Store, MAX_PARAMS};

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
    /// Usernames of the members, when asked for (`with_member_names`).
    #[sqlx(skip)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_usernames: Option<Vec<String>>,
}

impl Store {
    pub async fn groups(&self, tenant: Option<&str>) -> Result<Vec<GroupRow>> {
        Ok(on_pool!(&self.backend, |p| {
            sqlx::query_as(
                "SELECT g.id, g.tenant_id, g.job_id, g.source_id, g.name, g.description, g.active,
                        (SELECT count(*) FROM memberships ms WHERE ms.group_id = g.id) AS members
                 FROM groups g WHERE $1 IS NULL OR g.tenant_id = $1 ORDER BY g.name",
            )
            .bind(tenant)
            .fetch_all(p)
            .await?
        }))
    }

    /// Fills `member_usernames` of `groups` (sorted usernames), in one query.
    pub async fn with_member_names(&self, groups: &mut [GroupRow]) -> Result<()> {
        let mut by_group: HashMap<i64, Vec<String>> = HashMap::new();
        let ids: Vec<i64> = groups.iter().map(|g| g.id).collect();
        for chunk in ids.chunks(MAX_PARAMS) {
            let rows: Vec<(i64, String)> = on_pool!(&self.backend, |p| {
                let mut q = QueryBuilder::new(
                    "SELECT ms.group_id, u.username FROM memberships ms JOIN users u ON u.id = ms.user_id WHERE ms.group_id IN (",
                );
                let mut list = q.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                q.push(") ORDER BY u.username");
                q.build_query_as().fetch_all(p).await?
            });
            for (group, username) in rows {
                by_group.entry(group).or_default().push(username);
            }
        }
        for g in groups {
            g.member_usernames = Some(by_group.remove(&g.id).unwrap_or_default());
        }
        Ok(())
    }
}
