//! Figures beside usersync's own: ldap2pg on the same directory, and the per-user cost of a
//! full sync at each directory size (scaling).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Result;
use serde_json::{json, Value};

use crate::args::Args;
use crate::directory::Directory;
use crate::ldap2pg;
use crate::paired::{median, Paired};
use crate::report::Row;
use crate::say;

/// One scaling point: the full sync at this directory's size, per user and against the floor.
pub fn scaling_point(d: &Directory, full: &Paired) -> Value {
    let users = d.stats.users as f64;
    let t = median(full.times());
    let f = median(full.floors.clone());
    json!({
        "users": d.stats.users,
        "groups": d.stats.groups,
        "usersync_s": t,
        "usersync_us_per_user": t * 1e6 / users,
        "floor_s": f,
        "floor_us_per_user": f * 1e6 / users,
        "ratio": full.ratio(),
        "max_rss_mb": full.max_rss(),
    })
}

/// ldap2pg on the same directory: first run into an empty cluster, then a second (no-op).
pub fn ldap2pg_compare(
    root: &Path,
    work: &Path,
    d: &Directory,
    full: &Paired,
    noop: &Paired,
) -> Result<(Value, Vec<Row>)> {
    say("ldap2pg: virtualenv and PostgreSQL cluster");
    let bin = ldap2pg::venv(root)?;
    let pg = ldap2pg::Postgres::start()?;
    let first = ldap2pg::sync(&bin, work, &d.slapd, &pg)?;
    say(format!(
        "  ldap2pg first run: {:.2} s ({} login roles, {} group roles, {} memberships)",
        first.wall_s, first.login_roles, first.group_roles, first.memberships
    ));
    let second = ldap2pg::sync(&bin, work, &d.slapd, &pg)?;
    say(format!(
        "  ldap2pg second run (nothing changed): {:.2} s",
        second.wall_s
    ));
    let u_full = median(full.times());
    let u_noop = median(noop.times());
    let size = format!("{} users / {} groups", d.stats.users, d.stats.groups);
    let rows = vec![
        Row::speedup(
            &format!("6. vs ldap2pg {}, first sync ({size})", ldap2pg::VERSION),
            u_full,
            first.wall_s,
        ),
        Row::speedup("6. vs ldap2pg, no-op re-sync", u_noop, second.wall_s),
    ];
    Ok((
        json!({
            "version": ldap2pg::VERSION,
            "users": d.stats.users,
            "groups": d.stats.groups,
            "compared": "same slapd, same entries: ldap2pg creates a LOGIN role per enabled user, a NOLOGIN role per group and grants every direct membership (memberOf); usersync creates users, groups, effective memberships and audit rows in SQLite",
            "first_run_s": first.wall_s,
            "second_run_s": second.wall_s,
            "login_roles": first.login_roles,
            "group_roles": first.group_roles,
            "role_memberships": first.memberships,
            "usersync_full_median_s": u_full,
            "usersync_noop_median_s": u_noop,
            "speedup_full": first.wall_s / u_full,
            "speedup_noop": second.wall_s / u_noop,
        }),
        rows,
    ))
}

/// ldap2pg at the main size, dry run only (reads LDAP and PostgreSQL, computes, changes nothing).
pub fn ldap2pg_dry(root: &Path, work: &Path, d: &Directory) -> Result<Value> {
    let bin = ldap2pg::venv(root)?;
    let pg = ldap2pg::Postgres::start()?;
    let yml = work.join("ldap2pg-dry.yml");
    ldap2pg::write_private(&yml, &ldap2pg::config(&d.slapd))?;
    let t = Instant::now();
    let status = Command::new(&bin)
        .args(["--dry", "--quiet", "--config"])
        .arg(&yml)
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", pg.port.to_string())
        .env("PGUSER", "postgres")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    let s = t.elapsed().as_secs_f64();
    say(format!(
        "  ldap2pg --dry at {} users: {s:.1} s ({status})",
        d.stats.users
    ));
    Ok(json!({ "users": d.stats.users, "dry_run_s": s, "exit": status.code() }))
}

/// `--ldap2pg-only`: ldap2pg twice at `--ldap2pg-users` and the floor, printed and not
/// recorded (for looking at ldap2pg without building usersync).
pub fn ldap2pg_only(root: &Path, args: &Args) -> Result<()> {
    let n = args.ldap2pg_users;
    let d = Directory::start(n, (n / 20).max(1), args.seed)?;
    let work = tempfile::Builder::new()
        .prefix("usersync-bench")
        .tempdir()?;
    let bin = ldap2pg::venv(root)?;
    let pg = ldap2pg::Postgres::start()?;
    for run in ["first", "second"] {
        let r = ldap2pg::sync(&bin, work.path(), &d.slapd, &pg)?;
        println!(
            "ldap2pg {run} run at {n} users: {:.2} s ({} login roles, {} group roles, {} memberships)",
            r.wall_s, r.login_roles, r.group_roles, r.memberships
        );
    }
    let f = d.floor()?;
    println!("floor (ldapsearch dump): {f:.2} s");
    Ok(())
}
