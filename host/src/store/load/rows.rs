//! The job's rows as each backend reads them, and the engine's `Current`
//! made of them.

use std::collections::HashSet;

use super::OwnerRow;
use crate::engine::{Current, FastMap, StoredGroup, StoredUser, UsernameOwner};

/// The tenant's usernames held outside the job: the job's own users name
/// their usernames' holders themselves (at 100k users in one job, this is
/// none). Local users have no job. Three ranges of the (tenant, job, source
/// id) index: as one `OR`, SQLite walked the tenant's usernames instead and
/// read every user's row to check its job (130 ms for none at 100k).
pub(super) const OTHER_OWNERS_SQL: &str =
    "SELECT username, id, origin, job_id FROM users WHERE tenant_id = $1 AND job_id IS NULL
     UNION ALL SELECT username, id, origin, job_id FROM users WHERE tenant_id = $1 AND job_id < $2
     UNION ALL SELECT username, id, origin, job_id FROM users WHERE tenant_id = $1 AND job_id > $2";

/// (user source id, role) held through the job's bindings.
pub(super) const ROLES_SQL: &str = "SELECT u.source_id, r.name FROM user_roles ur
     JOIN users u ON u.id = ur.user_id JOIN roles r ON r.id = ur.role_id
     WHERE u.tenant_id = $1 AND ur.job_id = $2";

/// Seats of a license kind held by the tenant's users outside the job.
pub(super) const LICENSED_ELSEWHERE_SQL: &str =
    "SELECT count(*) FROM license_assignments la JOIN users u ON u.id = la.user_id
     WHERE la.tenant_id = $1 AND la.kind = $2 AND (u.job_id IS NULL OR u.job_id != $3)";

/// The job's users and, in the same order, their row ids. Two vectors, not
/// one of pairs: the users (~400 bytes each, 40 MB at 100k) then move into
/// [`Current`] as one vector, where pairs had to be moved out one by one.
#[derive(Default)]
pub(super) struct UserRows {
    pub ids: Vec<i64>,
    pub users: Vec<StoredUser>,
}

impl UserRows {
    pub fn with_capacity(n: usize) -> UserRows {
        UserRows {
            ids: Vec::with_capacity(n),
            users: Vec::with_capacity(n),
        }
    }

    pub fn push(&mut self, (id, user): (i64, StoredUser)) {
        self.ids.push(id);
        self.users.push(user);
    }
}

impl FromIterator<(i64, StoredUser)> for UserRows {
    fn from_iter<I: IntoIterator<Item = (i64, StoredUser)>>(rows: I) -> UserRows {
        let rows = rows.into_iter();
        let mut out = UserRows::with_capacity(rows.size_hint().0);
        rows.for_each(|row| out.push(row));
        out
    }
}

/// What the store holds for a job, as its rows (by row id): each backend
/// reads these its own way, and [`JobRows::into_current`] makes them the
/// engine's [`Current`].
#[derive(Default)]
pub(super) struct JobRows {
    pub users: UserRows,
    pub owners: Vec<OwnerRow>,
    pub groups: Vec<(i64, StoredGroup)>,
    /// Each group's members, by row ids.
    pub members: Vec<(i64, Vec<i64>)>,
    pub roles: Vec<(String, String)>,
    /// Row ids of the job's users holding the job's license kind.
    pub licensed: Vec<i64>,
    pub seats_used_elsewhere: u32,
    pub job_titles: HashSet<String>,
    pub companies: HashSet<String>,
}

impl JobRows {
    pub(super) fn into_current(self) -> Current {
        let mut current = Current::default();
        // Row id -> index in `current.users`, looked up once per membership
        // (480k at 100k users).
        let mut user_index: FastMap<i64, u32> =
            FastMap::with_capacity_and_hasher(self.users.ids.len(), Default::default());
        current
            .usernames
            .reserve(self.users.ids.len() + self.owners.len());
        for (k, (&id, u)) in self.users.ids.iter().zip(&self.users.users).enumerate() {
            user_index.insert(id, k as u32);
            let owner = UsernameOwner::ThisJob {
                source_id: u.source_id.clone(),
            };
            current.usernames.insert(u.fields.username.clone(), owner);
        }
        current.users = self.users.users;
        for (username, id, origin, owner_job) in self.owners {
            let owner = match (origin.as_str(), owner_job) {
                ("local", _) | (_, None) => UsernameOwner::Local { db_id: id },
                (_, Some(j)) => UsernameOwner::OtherJob { job: j },
            };
            current.usernames.insert(username, owner);
        }

        let mut group_index: FastMap<i64, u32> =
            FastMap::with_capacity_and_hasher(self.groups.len(), Default::default());
        current.groups = (self.groups.into_iter().enumerate())
            .map(|(k, (id, g))| {
                group_index.insert(id, k as u32);
                g
            })
            .collect();

        current.memberships = Vec::with_capacity(self.members.iter().map(|(_, m)| m.len()).sum());
        for (g, users) in self.members {
            let Some(&group) = group_index.get(&g) else {
                continue;
            };
            let pairs = users
                .iter()
                .filter_map(|u| Some((group, *user_index.get(u)?)));
            current.memberships.extend(pairs);
        }
        current.roles = self.roles.into_iter().collect();
        current.licensed = self
            .licensed
            .into_iter()
            .filter_map(|u| {
                Some(
                    current.users[*user_index.get(&u)? as usize]
                        .source_id
                        .clone(),
                )
            })
            .collect();
        current.seats_used_elsewhere = self.seats_used_elsewhere;
        current.job_titles = self.job_titles;
        current.companies = self.companies;
        // Built here, while the connector still reads, not by the plan.
        current.stored_index();
        current
    }
}
