//! Tables and JSON for the CLI.

use std::io::IsTerminal;

use anyhow::Result;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use indicatif::{ProgressBar, ProgressStyle};

use crate::model::{Check, CheckStatus};
use crate::store::{AuditRow, GroupRow, RunRecord, UserRow};
use crate::sync::RunReport;

pub const EXAMPLE_CONFIG: &str = include_str!("../../../examples/quickstart/usersync.toml");
const EXAMPLE_CSV: &str = include_str!("../../../examples/quickstart/data/people.csv");

/// What `init` puts beside the config so that `usersync sync --job people`
/// works at once: the example's `data/people.csv` (if absent) and an empty
/// `plugins/` folder (the built-in csv and default-mapper serve). Says what
/// it wrote.
pub fn init_beside(config: &std::path::Path) -> Result<Vec<String>> {
    use anyhow::Context as _;
    let base = config
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut said = Vec::new();
    let plugins = base.join("plugins");
    if !plugins.exists() {
        std::fs::create_dir_all(&plugins)
            .with_context(|| format!("cannot create {}", plugins.display()))?;
        said.push(format!(
            "created {} (empty: csv, ldap, graph, okta and default-mapper are built in; a .wasm here adds or overrides a plugin)",
            plugins.display()
        ));
    }
    let csv = base.join("data/people.csv");
    if !csv.exists() {
        std::fs::create_dir_all(base.join("data"))
            .with_context(|| format!("cannot create {}", base.join("data").display()))?;
        std::fs::write(&csv, EXAMPLE_CSV)
            .with_context(|| format!("cannot write {}", csv.display()))?;
        said.push(format!(
            "wrote {} (example people); try `usersync -c {} sync --job people --dry-run`",
            csv.display(),
            config.display()
        ));
    }
    Ok(said)
}

/// A spinner on long work, only when a person is watching.
pub fn spinner(message: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner().with_message(message.to_string());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    bar
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(header.to_vec());
    t
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    outln!("{}", serde_json::to_string_pretty(v)?)?;
    Ok(())
}

pub fn report(r: &RunReport, json: bool) -> Result<()> {
    if json {
        return print_json(r);
    }
    let p = &r.plan;
    let dry = if r.run.dry_run {
        " (dry run: nothing was changed)"
    } else {
        ""
    };
    outln!(
        "run {} · {} · {} read {} users, {} groups{dry}",
        r.run.id,
        r.run.mode,
        r.run.outcome,
        r.read.users,
        r.read.groups
    )?;
    if let Some(m) = &r.run.message {
        outln!("{m}")?;
    }
    if r.run.dry_run {
        let mut t = table(&["change", "subject", "details"]);
        for u in &p.users {
            let details = u
                .changes()
                .iter()
                .map(|c| {
                    format!(
                        "{}: {} → {}",
                        c.field,
                        c.old.as_deref().unwrap_or("∅"),
                        c.new.as_deref().unwrap_or("∅")
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            t.add_row(vec![
                format!("user {}", u.action()),
                u.username().to_string(),
                details,
            ]);
        }
        for g in &p.groups {
            t.add_row(vec![
                format!("group {}", g.action()),
                g.name().to_string(),
                String::new(),
            ]);
        }
        for m in &p.memberships {
            t.add_row(vec![
                if m.add { "member add" } else { "member remove" }.to_string(),
                m.username().to_string(),
                m.group_name().to_string(),
            ]);
        }
        for x in &p.roles {
            t.add_row(vec![
                if x.grant { "role grant" } else { "role revoke" }.to_string(),
                x.username.clone(),
                x.role.clone(),
            ]);
        }
        for l in &p.licenses {
            t.add_row(vec![
                if l.grant {
                    "license grant"
                } else {
                    "license free"
                }
                .to_string(),
                l.username.clone(),
                l.kind.clone(),
            ]);
        }
        if t.row_count() > 0 {
            outln!("{t}")?;
        }
    }
    let c = p.counts();
    outln!(
        "users: {} created, {} updated, {} renamed, {} deactivated, {} reactivated, {} adopted · groups: {} created, {} updated, {} deactivated · memberships: +{} −{} · roles: +{} −{} · licenses: +{} −{}",
        c.created, c.updated, c.renamed, c.deactivated, c.reactivated, c.adopted, c.groups_created, c.groups_updated, c.groups_deactivated,
        c.memberships_added, c.memberships_removed, c.roles_granted, c.roles_revoked, c.licenses_granted, c.licenses_freed
    )?;
    for x in &p.conflicts {
        outln!("conflict: {}", x.message)?;
    }
    for e in &p.errors {
        outln!(
            "error: {}{}: {}",
            e.record,
            e.field
                .as_ref()
                .map(|f| format!(" ({f})"))
                .unwrap_or_default(),
            e.message
        )?;
    }
    for w in &p.warnings {
        outln!("warning: {w}")?;
    }
    Ok(())
}

pub fn checks(checks: &[Check], json: bool) -> Result<bool> {
    let ok = checks.iter().all(|c| c.status != CheckStatus::Failed);
    if json {
        print_json(&serde_json::json!({ "ok": ok, "checks": checks }))?;
        return Ok(ok);
    }
    for c in checks {
        let mark = match c.status {
            CheckStatus::Ok => "ok  ",
            CheckStatus::Warning => "WARN",
            CheckStatus::Failed => "FAIL",
            CheckStatus::Skipped => "skip",
        };
        outln!("[{mark}] {}: {}", c.stage, c.detail)?;
    }
    outln!(
        "{}",
        if !ok {
            "connection FAILED"
        } else if checks.iter().any(|c| c.status == CheckStatus::Warning) {
            "connection ok, with warnings: a sync may not do what you want (see WARN above)"
        } else {
            "connection ok"
        }
    )?;
    Ok(ok)
}

/// `sync --json` for a run that failed: its record (if it has one) and the
/// error, in the shape of a report's `run`.
pub fn failed_run(run: Option<&RunRecord>, error: &anyhow::Error) -> Result<()> {
    print_json(&serde_json::json!({ "run": run, "error": format!("{error:#}") }))
}

pub fn runs(runs: &[RunRecord], json: bool) -> Result<()> {
    if json {
        return print_json(&runs);
    }
    // The node column appears once several nodes (or a daemon) ran something.
    let nodes = runs.iter().any(|r| r.node.is_some());
    let mut header = vec!["id", "tenant", "job", "mode", "started", "ms", "outcome"];
    if nodes {
        header.push("node");
    }
    header.push("counts");
    let mut t = table(&header);
    for r in runs {
        let mode = if r.dry_run {
            format!("{} (dry)", r.mode)
        } else {
            r.mode.to_string()
        };
        let mut row = vec![
            r.id[..8].to_string(),
            r.tenant_id.clone(),
            r.job_id.clone(),
            mode,
            r.started_at.clone(),
            r.duration_ms.map(|d| d.to_string()).unwrap_or_default(),
            r.outcome.to_string(),
        ];
        if nodes {
            row.push(r.node.clone().unwrap_or_default());
        }
        row.push(summary(r.counts.as_ref()));
        t.add_row(row);
    }
    outln!("{t}")?;
    Ok(())
}

fn summary(counts: Option<&serde_json::Value>) -> String {
    let Some(c) = counts.and_then(serde_json::Value::as_object) else {
        return String::new();
    };
    c.iter()
        .filter(|(_, v)| v.as_u64().unwrap_or(0) > 0)
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn run_detail(r: &RunRecord, json: bool) -> Result<()> {
    if json {
        return print_json(r);
    }
    outln!("run {}\n  job: {} (tenant {})\n  mode: {}{}\n  started: {}\n  finished: {}\n  duration: {} ms\n  outcome: {}",
        r.id, r.job_id, r.tenant_id, r.mode, if r.dry_run { " (dry run)" } else { "" }, r.started_at, r.finished_at.as_deref().unwrap_or("-"), r.duration_ms.unwrap_or(0), r.outcome)?;
    if let Some(m) = &r.message {
        outln!("  message: {m}")?;
    }
    outln!(
        "  node: {}\n  connector: {}\n  mappers: {}",
        r.node.as_deref().unwrap_or("-"),
        r.connector_version.as_deref().unwrap_or("-"),
        r.mapper_versions.as_deref().unwrap_or("-")
    )?;
    outln!("  counts: {}", summary(r.counts.as_ref()))?;
    if let Some(p) = &r.phases {
        outln!("  phases: {}", p.describe())?;
    }
    for (label, list) in [("errors", &r.errors), ("warnings", &r.warnings)] {
        if let Some(items) = list
            .as_ref()
            .and_then(serde_json::Value::as_array)
            .filter(|v| !v.is_empty())
        {
            outln!("  {label}:")?;
            for i in items {
                outln!("    - {i}")?;
            }
        }
    }
    Ok(())
}

pub fn users(users: &[UserRow], json: bool) -> Result<()> {
    if json {
        return print_json(&users);
    }
    let mut t = table(&[
        "username",
        "name",
        "email",
        "title",
        "department",
        "active",
        "origin",
        "groups",
        "roles",
        "licenses",
    ]);
    for u in users {
        let active = if u.active {
            "yes".to_string()
        } else {
            format!("no ({})", u.deactivation_reason.as_deref().unwrap_or("-"))
        };
        t.add_row(vec![
            u.username.clone(),
            u.display_name.clone().unwrap_or_default(),
            u.email.clone().unwrap_or_default(),
            u.job_title.clone().unwrap_or_default(),
            u.department.clone().unwrap_or_default(),
            active,
            u.origin.clone(),
            u.groups.join(", "),
            u.roles.join(", "),
            u.licenses.join(", "),
        ]);
    }
    outln!("{t}")?;
    Ok(())
}

pub fn audit(rows: &[AuditRow], json: bool) -> Result<()> {
    if json {
        return print_json(&rows);
    }
    let mut t = table(&["at", "job", "kind", "action", "subject", "changes"]);
    for r in rows {
        t.add_row(vec![
            r.at.clone(),
            r.job_id.clone().unwrap_or_default(),
            r.category.clone(),
            r.action.clone(),
            r.subject.clone(),
            r.changes.clone().unwrap_or_default(),
        ]);
    }
    outln!("{t}")?;
    Ok(())
}

/// Members named in a table cell; the rest are counted (`--json` lists all).
const MEMBERS_SHOWN: usize = 5;

pub fn groups(groups: &[GroupRow], json: bool) -> Result<()> {
    if json {
        return print_json(&groups);
    }
    let mut t = table(&["name", "active", "source id", "job", "tenant", "members"]);
    for g in groups {
        let names = g.member_usernames.as_deref().unwrap_or_default();
        let mut shown: Vec<&str> = names
            .iter()
            .take(MEMBERS_SHOWN)
            .map(String::as_str)
            .collect();
        let more = format!("… (+{})", names.len().saturating_sub(MEMBERS_SHOWN));
        if names.len() > MEMBERS_SHOWN {
            shown.push(&more);
        }
        let members = if shown.is_empty() {
            g.members.to_string()
        } else {
            format!("{}: {}", g.members, shown.join(", "))
        };
        t.add_row(vec![
            g.name.clone(),
            if g.active { "yes" } else { "no" }.to_string(),
            g.source_id.clone(),
            g.job_id.clone(),
            g.tenant_id.clone(),
            members,
        ]);
    }
    outln!("{t}")?;
    Ok(())
}

/// What `usersync lookup` did.
pub fn lookup(table: &str, name: &str, tenant: &str, added: bool, json: bool) -> Result<()> {
    if json {
        return print_json(&serde_json::json!({
            "table": table, "name": name, "tenant": tenant, "added": added,
        }));
    }
    if added {
        outln!("added {table} {name:?} to tenant {tenant:?}; users mapped to it get it on their next sync")?;
    } else {
        outln!("{table} {name:?} was already in tenant {tenant:?}; nothing changed")?;
    }
    Ok(())
}
