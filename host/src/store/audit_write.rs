//! Writing a run's audit events, in the run's transaction.

use anyhow::Result;
use sqlx::{PgConnection, SqliteConnection};

use super::db::Tx;
use super::ApplyContext;
use crate::engine::{
    FastMap, FastSet, FieldChange, GroupChange, MembershipChange, Plan, UserChange,
};
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

/// Audit rows are written in chunks of this many, so only one chunk of
/// events is in memory at a time (SQLite steps a one-row statement per
/// event; PostgreSQL takes a chunk as arrays in one statement).
const AUDIT_CHUNK: usize = 500;

/// Buffers events and inserts them a chunk at a time.
struct AuditWriter<'a> {
    run_id: &'a str,
    events: Vec<Event<'a>>,
    written: usize,
}

impl<'a> AuditWriter<'a> {
    async fn push(&mut self, tx: &mut Tx<'_>, e: Event<'a>) -> Result<()> {
        self.events.push(e);
        if self.events.len() == AUDIT_CHUNK {
            self.flush(tx).await?;
        }
        Ok(())
    }

    async fn flush(&mut self, tx: &mut Tx<'_>) -> Result<()> {
        if self.events.is_empty() {
            return Ok(());
        }
        match &mut *tx {
            Tx::Sqlite(t) => {
                if self.written == 0 {
                    run_exists(t, self.run_id).await?;
                }
                self.insert_sqlite(t).await?
            }
            Tx::Postgres(t) => self.insert_postgres(t).await?,
        }
        self.written += self.events.len();
        self.events.clear();
        Ok(())
    }

    async fn insert_sqlite(&self, conn: &mut SqliteConnection) -> Result<()> {
        super::sqlite_bulk::write(conn, |db| {
            let mut insert = db.prepare(
                "INSERT INTO audit_events (run_id, category, action, subject, subject_source_id, changes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for e in &self.events {
                insert.execute((
                    self.run_id,
                    e.category,
                    e.action,
                    e.subject,
                    e.source_id,
                    e.changes.as_deref(),
                ))?;
            }
            Ok(())
        })
        .await
    }

    /// The chunk as column arrays, `UNNEST`ed in one statement.
    async fn insert_postgres(&self, conn: &mut PgConnection) -> Result<()> {
        let column = |f: for<'x> fn(&'x Event<'x>) -> Option<&'x str>| {
            self.events.iter().map(f).collect::<Vec<_>>()
        };
        sqlx::query(
            "INSERT INTO audit_events (run_id, category, action, subject, subject_source_id, changes)
             SELECT $1, t.* FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS t",
        )
        .bind(self.run_id)
        .bind(column(|e| Some(e.category)))
        .bind(column(|e| Some(e.action)))
        .bind(column(|e| Some(e.subject)))
        .bind(column(|e| Some(e.source_id)))
        .bind(column(|e| e.changes.as_deref()))
        .execute(conn)
        .await?;
        Ok(())
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

/// A field change as `FieldChange` serializes, borrowing its text: a first
/// sync writes one per field of every user it creates.
#[derive(serde::Serialize)]
struct Set<'a> {
    field: &'a str,
    old: Option<&'a str>,
    new: &'a str,
}

/// A created user's `[{field, old: null, new}, ...]`: its username and text
/// fields, its custom attributes as JSON, and `active: false` when disabled.
fn created_fields(fields: &UserFields, custom_json: Option<&str>, disabled: bool) -> String {
    let set = |field, new| Set {
        field,
        old: None,
        new,
    };
    let mut changes: Vec<Set<'_>> = std::iter::once("username")
        .chain(TEXT_FIELDS)
        .filter_map(|f| fields.get(f).map(|v| set(f, v)))
        .collect();
    changes.extend(custom_json.map(|j| set("custom", j)));
    if disabled {
        changes.push(set("active", "false"));
    }
    serde_json::to_string(&changes).expect("serializable")
}

/// One audit event per change in the plan, in the run's transaction.
pub(super) async fn write_audit(
    tx: &mut Tx<'_>,
    plan: &Plan,
    ctx: &ApplyContext,
    now: &str,
) -> Result<()> {
    let _ = now; // the run record carries the time
    let mut w = AuditWriter {
        run_id: &ctx.run_id,
        events: Vec::with_capacity(AUDIT_CHUNK),
        written: 0,
    };
    for u in &plan.users {
        if u.action() == "refresh" {
            continue;
        }
        let changes = match u {
            UserChange::Create {
                fields,
                custom_json,
                disabled,
                ..
            } => Some(created_fields(fields, custom_json.as_deref(), *disabled)),
            UserChange::Deactivate { reason, .. } => Some(format!(
                r#"[{{"field":"active","old":"true","new":"false","reason":"{}"}}]"#,
                reason.as_str()
            )),
            other => json(other.changes()),
        };
        let e = Event {
            category: "user",
            action: u.action(),
            subject: u.username(),
            source_id: u.source_id(),
            changes,
        };
        w.push(tx, e).await?;
    }
    for g in &plan.groups {
        let changes = match g {
            GroupChange::Update { changes, .. } => json(changes),
            _ => None,
        };
        let e = Event {
            category: "group",
            action: g.action(),
            subject: g.name(),
            source_id: g.source_id(),
            changes,
        };
        w.push(tx, e).await?;
    }
    let joins = initial_memberships(plan);
    for (user, groups) in &joins.by_user {
        let e = Event {
            category: "membership",
            action: "join",
            subject: groups[0].username(),
            source_id: user,
            changes: Some(join_details(groups)),
        };
        w.push(tx, e).await?;
    }
    for m in plan.memberships.iter().filter(|m| !joins.covers(m)) {
        let e = Event {
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
        };
        w.push(tx, e).await?;
    }
    for r in &plan.roles {
        let e = Event {
            category: "role",
            action: if r.grant { "grant" } else { "revoke" },
            subject: &r.username,
            source_id: &r.user,
            changes: Some(format!(
                r#"{{"kind":{},"role":{}}}"#,
                js(&r.role_kind),
                js(&r.role)
            )),
        };
        w.push(tx, e).await?;
    }
    for l in &plan.licenses {
        let e = Event {
            category: "license",
            action: if l.grant { "grant" } else { "free" },
            subject: &l.username,
            source_id: &l.user,
            changes: Some(format!(r#"{{"kind":{}}}"#, js(&l.kind))),
        };
        w.push(tx, e).await?;
    }
    w.flush(tx).await?;
    tracing::debug!(events = w.written, "audit events written");
    Ok(())
}

/// The groups each user created by this run joins in it. A first sync
/// audits them as one `membership:join` event per user (listing the groups)
/// instead of one `membership:add` row per membership: most of a first
/// sync's audit rows were memberships. The event still names the run and
/// its time, so `audit --user U` says since when and by which run U is in G.
struct InitialMemberships<'a> {
    by_user: Vec<(&'a str, Vec<&'a MembershipChange>)>,
    created: FastSet<&'a str>,
}

impl InitialMemberships<'_> {
    fn covers(&self, m: &MembershipChange) -> bool {
        m.add && self.created.contains(m.user())
    }
}

fn initial_memberships(plan: &Plan) -> InitialMemberships<'_> {
    let created: FastSet<&str> = plan
        .users
        .iter()
        .filter(|u| matches!(u, UserChange::Create { .. }))
        .map(|u| u.source_id())
        .collect();
    let mut index: FastMap<&str, usize> = FastMap::default();
    let mut by_user: Vec<(&str, Vec<&MembershipChange>)> = Vec::new();
    for m in plan.memberships.iter().filter(|m| m.add) {
        if !created.contains(m.user()) {
            continue;
        }
        let i = *index.entry(m.user()).or_insert_with(|| {
            by_user.push((m.user(), Vec::new()));
            by_user.len() - 1
        });
        by_user[i].1.push(m);
    }
    InitialMemberships { by_user, created }
}

/// `{"groups":[{"group":name,"group_id":source id},...]}`, keys sorted as
/// serde_json writes an object (the same pair a `membership:add` holds).
fn join_details(groups: &[&MembershipChange]) -> String {
    #[derive(serde::Serialize)]
    struct Joined<'a> {
        group: &'a str,
        group_id: &'a str,
    }
    #[derive(serde::Serialize)]
    struct Details<'a> {
        groups: Vec<Joined<'a>>,
    }
    let groups = groups
        .iter()
        .map(|m| Joined {
            group: m.group_name(),
            group_id: m.group(),
        })
        .collect();
    serde_json::to_string(&Details { groups }).expect("serializable")
}
