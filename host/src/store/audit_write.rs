//! Writing a run's audit events, in the run's transaction.

use anyhow::Result;
use sqlx::{PgConnection, SqliteConnection};

use super::db::Tx;
use super::ApplyContext;
use crate::engine::{FastMap, FieldChange, GroupChange, MembershipChange, Plan, UserChange};
use crate::model::{UserFields, TEXT_FIELDS};

struct Event<'a> {
    category: &'static str,
    action: &'a str,
    subject: &'a str,
    source_id: &'a str,
    changes: Option<String>,
}

fn json(changes: &[FieldChange]) -> Option<String> {
    (!changes.is_empty()).then(|| serde_json::to_string(changes).expect("serializable"))
}

/// Audit rows are handed from the thread that builds them to the one that
/// writes them in chunks of this many, so only a few chunks of events are
/// in memory at a time (a first sync's events are ~86 MB of JSON at 100k
/// users).
const AUDIT_CHUNK: usize = 500;

/// Chunks the building thread may be ahead of the writer.
const CHUNKS_AHEAD: usize = 4;

const INSERT_SQL: &str =
    "INSERT INTO audit_events (run_id, category, action, subject, subject_source_id, changes)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// SQLite: the events are built (JSON, a first sync's grouping of joins) on
/// a thread of their own while this one steps the inserts, so the two
/// halves of the audit's cost overlap on two cores.
async fn write_sqlite(conn: &mut SqliteConnection, plan: &Plan, run_id: &str) -> Result<usize> {
    if !has_events(plan) {
        return Ok(0);
    }
    run_exists(conn, run_id).await?;
    super::sqlite_bulk::write(conn, |db| {
        let mut insert = db.prepare(INSERT_SQL)?;
        std::thread::scope(|s| {
            let (chunks, built) = std::sync::mpsc::sync_channel::<Vec<Event>>(CHUNKS_AHEAD);
            std::thread::Builder::new()
                .name("usersync-audit".into())
                .spawn_scoped(s, move || {
                    let mut events = events(plan);
                    loop {
                        let chunk: Vec<Event> = events.by_ref().take(AUDIT_CHUNK).collect();
                        // A writer that stopped (an error) drops `built`.
                        if chunk.is_empty() || chunks.send(chunk).is_err() {
                            break;
                        }
                    }
                })
                .expect("a thread to build the audit events");
            let mut written = 0;
            for chunk in built {
                for e in &chunk {
                    insert.execute((
                        run_id,
                        e.category,
                        e.action,
                        e.subject,
                        e.source_id,
                        e.changes.as_deref(),
                    ))?;
                }
                written += chunk.len();
            }
            Ok(written)
        })
    })
    .await
}

/// PostgreSQL: each chunk as column arrays, `UNNEST`ed in one statement.
async fn write_postgres(conn: &mut PgConnection, plan: &Plan, run_id: &str) -> Result<usize> {
    let mut events = events(plan);
    let mut written = 0;
    loop {
        let chunk: Vec<Event> = events.by_ref().take(AUDIT_CHUNK).collect();
        if chunk.is_empty() {
            return Ok(written);
        }
        let column = |f: for<'x> fn(&'x Event<'x>) -> Option<&'x str>| {
            chunk.iter().map(f).collect::<Vec<_>>()
        };
        sqlx::query(
            "INSERT INTO audit_events (run_id, category, action, subject, subject_source_id, changes)
             SELECT $1, t.* FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS t",
        )
        .bind(run_id)
        .bind(column(|e| Some(e.category)))
        .bind(column(|e| Some(e.action)))
        .bind(column(|e| Some(e.subject)))
        .bind(column(|e| Some(e.source_id)))
        .bind(column(|e| e.changes.as_deref()))
        .execute(&mut *conn)
        .await?;
        written += chunk.len();
    }
}

/// The run the events name must exist: the applying transaction checks no
/// foreign keys on SQLite (see `Backend::writer`).
async fn run_exists(conn: &mut SqliteConnection, run_id: &str) -> Result<()> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM runs WHERE id = $1")
        .bind(run_id)
        .fetch_optional(&mut *conn)
        .await?;
    anyhow::ensure!(
        found.is_some(),
        "run {run_id} has no record in the store, so its audit events cannot name it; nothing was applied"
    );
    Ok(())
}

/// A JSON string literal.
fn js(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

/// A created user's username and text fields, its custom attributes as
/// JSON, `active: false` when disabled, and the groups it joins in this run
/// (stored compact, see `audit_shape`).
fn created_fields(
    fields: &UserFields,
    custom_json: Option<&str>,
    disabled: bool,
    joins: &[&str],
) -> String {
    let mut set: Vec<(&str, &str)> = std::iter::once("username")
        .chain(TEXT_FIELDS)
        .filter_map(|f| fields.get(f).map(|v| (f, v)))
        .collect();
    set.extend(custom_json.map(|j| ("custom", j)));
    if disabled {
        set.push(("active", "false"));
    }
    super::audit_shape::created(&set, joins)
}

/// The groups created users join, each serialized once
/// ([`super::audit_shape::joined_group`]) and found by its shared handle:
/// a first sync has a few groups and many joins.
#[derive(Default)]
struct JoinedGroups {
    by_handle: FastMap<usize, u32>,
    json: Vec<String>,
}

impl JoinedGroups {
    /// The index in `json` of `m`'s group.
    fn of(&mut self, m: &MembershipChange) -> u32 {
        let Self { by_handle, json } = self;
        *by_handle.entry(m.group_handle()).or_insert_with(|| {
            json.push(super::audit_shape::joined_group(m.group_name(), m.group()));
            (json.len() - 1) as u32
        })
    }
}

/// One audit event per change in the plan, in the run's transaction.
pub(super) async fn write_audit(tx: &mut Tx<'_>, plan: &Plan, ctx: &ApplyContext) -> Result<()> {
    let written = match tx {
        Tx::Sqlite(t) => write_sqlite(t, plan, &ctx.run_id).await?,
        Tx::Postgres(t) => write_postgres(t, plan, &ctx.run_id).await?,
    };
    tracing::debug!(events = written, "audit events written");
    Ok(())
}

/// Whether `plan` has anything to audit.
fn has_events(plan: &Plan) -> bool {
    plan.users.iter().any(audited)
        || !plan.groups.is_empty()
        || !plan.memberships.is_empty()
        || !plan.roles.is_empty()
        || !plan.licenses.is_empty()
}

/// Every event of `plan`, in the order they are written: users (a created
/// user with the groups it joins), groups, other memberships, roles,
/// licenses.
fn events(plan: &Plan) -> impl Iterator<Item = Event<'_>> {
    let mut initial = initial_memberships(plan);
    let place = std::mem::take(&mut initial.place);
    let (mut groups, mut joined) = (JoinedGroups::default(), Vec::new());
    let users = (plan.users.iter().enumerate())
        .filter(|(_, u)| audited(u))
        .map(move |(i, u)| {
            // Gathered before they are written: the memberships sit
            // anywhere in the plan, and one tight loop overlaps their misses.
            joined.clear();
            joined.extend(
                (initial.joins_of(i).iter()).map(|&m| groups.of(&plan.memberships[m as usize])),
            );
            let joins: Vec<&str> = joined
                .iter()
                .map(|&g| groups.json[g as usize].as_str())
                .collect();
            user_event(u, &joins)
        });
    let groups = plan.groups.iter().map(|g| Event {
        category: "group",
        action: g.action(),
        subject: g.name(),
        source_id: g.source_id(),
        changes: match g {
            GroupChange::Update { changes, .. } => json(changes),
            _ => None,
        },
    });
    let memberships = plan
        .memberships
        .iter()
        .zip(place)
        .filter(|(_, place)| *place == NOT_JOINED)
        .map(|(m, _)| Event {
            category: "membership",
            action: if m.add { "add" } else { "remove" },
            subject: m.username(),
            source_id: m.user(),
            // keys in sorted order, as serde_json writes an object
            changes: Some(format!(
                r#"{{"group":{},"group_id":{}}}"#,
                js(m.group_name()),
                js(m.group())
            )),
        });
    let roles = plan.roles.iter().map(|r| Event {
        category: "role",
        action: if r.grant { "grant" } else { "revoke" },
        subject: &r.username,
        source_id: &r.user,
        changes: Some(format!(
            r#"{{"kind":{},"role":{}}}"#,
            js(&r.role_kind),
            js(&r.role)
        )),
    });
    let licenses = plan.licenses.iter().map(|l| Event {
        category: "license",
        action: if l.grant { "grant" } else { "free" },
        subject: &l.username,
        source_id: &l.user,
        changes: Some(format!(r#"{{"kind":{}}}"#, js(&l.kind))),
    });
    users
        .chain(groups)
        .chain(memberships)
        .chain(roles)
        .chain(licenses)
}

/// A refresh rewrites what the source already said: nothing to audit.
fn audited(u: &UserChange) -> bool {
    u.action() != "refresh"
}

/// `joins`: the groups a user created by this run joins, serialized.
fn user_event<'a>(u: &'a UserChange, joins: &[&str]) -> Event<'a> {
    let changes = match u {
        UserChange::Create {
            fields,
            custom_json,
            disabled,
            ..
        } => Some(created_fields(
            fields,
            custom_json.as_deref(),
            *disabled,
            joins,
        )),
        UserChange::Deactivate { reason, .. } => Some(format!(
            r#"[{{"field":"active","old":"true","new":"false","reason":"{}"}}]"#,
            reason.as_str()
        )),
        other => json(other.changes()),
    };
    Event {
        category: "user",
        action: u.action(),
        subject: u.username(),
        source_id: u.source_id(),
        changes,
    }
}

/// The groups each user created by this run joins in it. A first sync
/// audits them in the user's `user:create` event (read back as a
/// `membership:join` event listing the groups, see `audit_shape`) instead
/// of one `membership:add` row per membership: most of a first sync's audit
/// rows were memberships. The event still names the run and its time, so
/// `audit --user U` says since when and by which run U is in G.
///
/// The plan lists memberships by group; the joins are regrouped by user as
/// a counting sort over flat arrays of indexes. A list per user, found
/// through a map by source id, cost ~7 cache misses per membership: at 1M
/// users (6M memberships) it was most of the audit's 7 s.
struct InitialMemberships {
    /// Per user change of the plan: its slot when it creates a user who
    /// joins groups, numbered in the order of their first join, or
    /// [`NOT_JOINED`].
    slots: Vec<u32>,
    /// Per membership of the plan: its user's slot, or [`NOT_JOINED`] when
    /// a created user's event does not cover it.
    place: Vec<u32>,
    /// `by_user[starts[s]..starts[s + 1]]`: indexes into the plan's
    /// memberships of slot `s`'s joins, in the plan's order.
    starts: Vec<u32>,
    by_user: Vec<u32>,
}

const NOT_JOINED: u32 = u32::MAX;

impl InitialMemberships {
    /// Indexes into the plan's memberships of the groups that the user
    /// created by the plan's user change `i` joins.
    fn joins_of(&self, i: usize) -> &[u32] {
        match self.slots[i] {
            NOT_JOINED => &[],
            slot => {
                let slot = slot as usize;
                &self.by_user[self.starts[slot] as usize..self.starts[slot + 1] as usize]
            }
        }
    }
}

fn initial_memberships(plan: &Plan) -> InitialMemberships {
    // Each created user's source id and its user change's index.
    let created: FastMap<&str, usize> = (plan.users.iter().enumerate())
        .filter(|(_, u)| matches!(u, UserChange::Create { .. }))
        .map(|(i, u)| (u.source_id(), i))
        .collect();
    let mut slots = vec![NOT_JOINED; plan.users.len()];
    let mut place = vec![NOT_JOINED; plan.memberships.len()];
    let mut joining = 0u32;
    if !created.is_empty() {
        // A user's memberships share one handle, so its address finds the
        // user's slot; the source id is looked up once per handle.
        let mut by_handle: FastMap<usize, u32> = FastMap::default();
        for (m, place) in plan.memberships.iter().zip(&mut place) {
            if !m.add {
                continue;
            }
            *place = *by_handle.entry(m.user_handle()).or_insert_with(|| {
                let Some(&i) = created.get(m.user()) else {
                    return NOT_JOINED;
                };
                if slots[i] == NOT_JOINED {
                    slots[i] = joining;
                    joining += 1;
                }
                slots[i]
            });
        }
    }
    drop(created);
    let joining = joining as usize;
    let mut starts = vec![0u32; joining + 1];
    for &p in place.iter().filter(|&&p| p != NOT_JOINED) {
        starts[p as usize + 1] += 1;
    }
    for s in 0..joining {
        starts[s + 1] += starts[s];
    }
    let mut next = starts.clone();
    let mut by_user = vec![0u32; starts[joining] as usize];
    for (i, &p) in place.iter().enumerate().filter(|(_, &p)| p != NOT_JOINED) {
        by_user[next[p as usize] as usize] = i as u32;
        next[p as usize] += 1;
    }
    InitialMemberships {
        slots,
        place,
        starts,
        by_user,
    }
}
