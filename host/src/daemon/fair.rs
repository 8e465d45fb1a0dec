//! Fair starts: which due jobs start now. Free places (the daemon's
//! `server.max_concurrent_runs` minus runs in flight) go round-robin across
//! tenants, one job per tenant per round, each tenant within its own
//! `max_concurrent_runs` quota; so a tenant with 200 due jobs takes one
//! place per round like a tenant with one. The round starts after the
//! tenant served last, so no tenant is always first.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::config::JobKey;

/// One due job, earliest first within its tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct DueJob<T> {
    pub key: JobKey,
    pub what: T,
}

/// Where a round stands: free places overall and per tenant.
pub struct Places<'a> {
    /// Places left under the daemon's cap.
    pub free: usize,
    /// Places left under a tenant's own quota (absent: no quota).
    pub tenant_free: &'a HashMap<String, usize>,
    /// The tenant served last, if any: the next round starts after it.
    pub after: Option<&'a str>,
}

/// The jobs to start now, in order, and the tenant served last.
pub fn pick<T>(due: Vec<DueJob<T>>, places: Places<'_>) -> (Vec<DueJob<T>>, Option<String>) {
    let mut queues: BTreeMap<String, VecDeque<DueJob<T>>> = BTreeMap::new();
    for job in due {
        queues
            .entry(job.key.tenant.clone())
            .or_default()
            .push_back(job);
    }
    let mut order: Vec<String> = queues.keys().cloned().collect();
    if let Some(after) = places.after {
        // Tenants after the last one served come first, then the rest.
        let split = order.partition_point(|t| t.as_str() <= after);
        order.rotate_left(split);
    }
    let mut tenant_free = places.tenant_free.clone();
    let mut free = places.free;
    let mut picked = Vec::new();
    let mut last = None;
    while free > 0 {
        let mut progress = false;
        for tenant in &order {
            if free == 0 {
                break;
            }
            let quota = tenant_free.get_mut(tenant);
            if quota.as_deref() == Some(&0) {
                continue;
            }
            let Some(job) = queues.get_mut(tenant).and_then(VecDeque::pop_front) else {
                continue;
            };
            if let Some(q) = quota {
                *q -= 1;
            }
            free -= 1;
            picked.push(job);
            last = Some(tenant.clone());
            progress = true;
        }
        if !progress {
            break;
        }
    }
    (picked, last.or_else(|| places.after.map(str::to_string)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(tenant: &str, n: usize) -> Vec<DueJob<()>> {
        (0..n)
            .map(|i| DueJob {
                key: JobKey::new(tenant, format!("job{i}")),
                what: (),
            })
            .collect()
    }

    fn tenants(picked: &[DueJob<()>]) -> Vec<&str> {
        picked.iter().map(|j| j.key.tenant.as_str()).collect()
    }

    #[test]
    fn a_lone_job_starts_in_the_first_round_beside_a_tenant_with_200() {
        let mut all = due("busy", 200);
        all.extend(due("lone", 1));
        let none = HashMap::new();
        let (picked, last) = pick(
            all,
            Places {
                free: 2,
                tenant_free: &none,
                after: None,
            },
        );
        assert_eq!(tenants(&picked), ["busy", "lone"]);
        assert_eq!(last.as_deref(), Some("lone"));
    }

    #[test]
    fn rounds_rotate_so_no_tenant_is_always_first() {
        let mut all = due("a", 3);
        all.extend(due("b", 3));
        all.extend(due("c", 3));
        let none = HashMap::new();
        let (picked, last) = pick(
            all.clone(),
            Places {
                free: 1,
                tenant_free: &none,
                after: Some("a"),
            },
        );
        assert_eq!((tenants(&picked), last.as_deref()), (vec!["b"], Some("b")));
        let (picked, _) = pick(
            all,
            Places {
                free: 7,
                tenant_free: &none,
                after: Some("c"),
            },
        );
        assert_eq!(tenants(&picked), ["a", "b", "c", "a", "b", "c", "a"]);
        assert_eq!(picked[3].key.job, "job1", "each tenant's jobs in order");
    }

    #[test]
    fn a_tenant_at_its_quota_waits_and_its_place_goes_to_others() {
        let mut all = due("capped", 5);
        all.extend(due("other", 5));
        let quotas = HashMap::from([("capped".to_string(), 1)]);
        let (picked, _) = pick(
            all,
            Places {
                free: 4,
                tenant_free: &quotas,
                after: None,
            },
        );
        assert_eq!(tenants(&picked), ["capped", "other", "other", "other"]);
    }
}
