//! A tenant's `max_users` quota: a run that would leave the tenant with
//! more active users than its quota stops before changing anything.

use anyhow::Result;

use super::Host;
use crate::engine::{Plan, Stop, UserChange};

impl Host {
    /// The stop for a plan that would take `tenant` over `limit` active
    /// users. A run that adds none is never stopped, so lowering the
    /// quota below today's count still lets deactivations through.
    pub(super) async fn max_users_stop(
        &self,
        tenant: &str,
        plan: &Plan,
        limit: u64,
    ) -> Result<Option<Stop>> {
        let added: i64 = plan
            .users
            .iter()
            .map(|c| match c {
                UserChange::Create { disabled, .. } => i64::from(!*disabled),
                UserChange::Reactivate { .. } => 1,
                UserChange::Deactivate { .. } => -1,
                _ => 0,
            })
            .sum();
        if added <= 0 {
            return Ok(None);
        }
        let active = self
            .store
            .users(Some(tenant))
            .await?
            .iter()
            .filter(|u| u.active)
            .count() as i64;
        let would_have = (active + added) as u64;
        Ok((would_have > limit).then(|| Stop::MaxUsers {
            tenant: tenant.to_string(),
            would_have,
            limit,
        }))
    }
}
