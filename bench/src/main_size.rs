//! Rows 1-4 and 8 at the main size: full sync, no-op re-sync, incremental sync and peak memory, on
//! each store `--store` names (SQLite, PostgreSQL, or both side by side on one directory).

use anyhow::Result;
use serde_json::json;

use crate::directory::{self, Directory};
use crate::paired::{self, median, timed_syncs};
use crate::report::Row;
use crate::runner::Usersync;
use crate::store::Kind;
use crate::{compare, incremental, say, store_suffix, verify, Bench, Findings};

/// Rows 1-4 at the main size: full sync, no-op re-sync, incremental sync, peak memory; then the
/// optional ldap2pg dry run and this size's scaling point.
pub fn main_directory(b: &Bench, f: &mut Findings) -> Result<()> {
    let args = &b.args;
    say(format!(
        "directory {} users / {} groups",
        args.users, args.groups
    ));
    let d = Directory::start(args.users, args.groups, args.seed)?;
    say(format!(
        "  generated in {:.1} s ({:.0} MB of LDIF, {} memberships), slapadd + start {:.1} s",
        d.generate_s,
        d.stats.bytes as f64 / 1e6,
        d.stats.memberships,
        d.load_s
    ));
    f.out["directory"] = json!({
        "users": d.stats.users, "groups": d.stats.groups, "memberships": d.stats.memberships,
        "nested_memberships": d.stats.nested_memberships, "disabled_users": d.stats.disabled_users,
        "largest_group": d.stats.largest_group, "ldif_bytes": d.stats.bytes,
        "generate_s": d.generate_s, "slapadd_and_start_s": d.load_s,
        "floor_attributes": { "users": directory::USER_ATTRS, "groups": directory::GROUP_ATTRS },
    });
    // Each store's full and no-op syncs, then the incremental step for all of them (the
    // directory's changes are applied once, between the nothing-changed and the changed runs).
    let mut measured = Vec::new();
    for kind in args.store.kinds() {
        let name = match kind {
            Kind::Sqlite => "main".to_string(),
            Kind::Postgres => "main-postgres".to_string(),
        };
        let us = b.usersync(&name, &d, kind)?;
        let (full, noop) = full_and_noop(b, f, &d, &us)?;
        measured.push((us, full, noop));
    }
    let installs: Vec<&Usersync> = measured.iter().map(|(us, ..)| us).collect();
    let incs = incremental::measure(b, f, &d, &installs)?;

    for ((us, full, noop), inc) in measured.iter().zip(&incs) {
        let kind = us.store.kind();
        // 4. Peak memory of the full sync.
        f.rows.push(Row::target(
            &format!(
                "4. peak RSS, full sync of {} users{}",
                args.users,
                store_suffix(kind)
            ),
            full.max_rss(),
            "MB",
            256.0,
            "≤ 256 MB",
        ));
        let memory = json!({
            "full_sync_max_rss_mb": full.max_rss(),
            "noop_max_rss_mb": noop.max_rss(),
            "incremental_max_rss_mb": inc.child.max_rss_mb,
        });
        if f.out.get("memory").is_none() {
            f.out["memory"] = memory.clone();
        }
        f.out["by_store"][kind.key()]["memory"] = memory;
    }
    if let [(sqlite, s_full, s_noop), (postgres, p_full, p_noop)] = &measured[..] {
        debug_assert_eq!(
            (sqlite.store.kind(), postgres.store.kind()),
            (Kind::Sqlite, Kind::Postgres)
        );
        let ratio = |p: f64, s: f64| p / s;
        let (full_r, noop_r, inc_r) = (
            ratio(median(p_full.times()), median(s_full.times())),
            ratio(median(p_noop.times()), median(s_noop.times())),
            ratio(incs[1].child.wall_s, incs[0].child.wall_s),
        );
        f.rows.push(Row::info(
            "8. PostgreSQL / SQLite, same directory",
            &format!("full {full_r:.2}×, no-op {noop_r:.2}×, incremental {inc_r:.2}×"),
        ));
        f.out["postgres_over_sqlite"] =
            json!({ "full": full_r, "noop": noop_r, "incremental": inc_r });
    }

    let (_, full, _) = &measured[0];
    if args.ldap2pg_dry_main && !args.skip_ldap2pg {
        match compare::ldap2pg_dry(&b.root, &b.work, &d) {
            Ok(v) => f.out["ldap2pg_dry_main"] = v,
            Err(e) => say(format!("ldap2pg dry run failed: {e:#}")),
        }
    }
    if !args.skip_scaling {
        f.scaling.push(compare::scaling_point(&d, full));
    }
    Ok(())
}

/// Rows 1 and 2 for one installation: full syncs into an empty store (checked against the
/// directory), then no-op re-syncs.
fn full_and_noop(
    b: &Bench,
    f: &mut Findings,
    d: &Directory,
    us: &Usersync,
) -> Result<(paired::Paired, paired::Paired)> {
    let args = &b.args;
    let kind = us.store.kind();
    let full = timed_syncs(d, us, &b.rt, args.repeat, true, "full sync")?;
    let full_verdict = verify::verify(&b.rt, &d.slapd, &us.store)?;
    say(format!(
        "  after the full sync into {}: store equals directory: {} ({} problems)",
        kind.label(),
        full_verdict.ok(),
        full_verdict.problems
    ));
    if !full_verdict.ok() {
        f.failures.push(format!(
            "after the full sync the {} store differs from the directory: {:?}",
            kind.label(),
            full_verdict.examples
        ));
    }
    f.rows.push(Row::ratio(
        &format!("1. full sync into {}", kind.label()),
        median(full.times()),
        median(full.floors.clone()),
        full.ratio(),
        2.0,
        "≤ 2× floor",
    ));
    if !full.read_times().is_empty() {
        f.rows.push(Row::ratio(
            &format!(
                "1b. read + map phase of the full sync{}",
                store_suffix(kind)
            ),
            median(full.read_times()),
            median(full.floors.clone()),
            full.read_ratio(),
            1.3,
            "≤ 1.3× floor",
        ));
    }
    let mut full_json = full.to_json();
    full_json["verified"] = full_verdict.to_json();

    let noop = timed_syncs(d, us, &b.rt, args.repeat, false, "no-op re-sync")?;
    f.rows.push(Row::ratio(
        &format!("2. no-op re-sync (full read){}", store_suffix(kind)),
        median(noop.times()),
        median(noop.floors.clone()),
        noop.ratio(),
        1.5,
        "≤ 1.5× floor",
    ));
    if f.out.get("full").is_none() {
        f.out["full"] = full_json.clone();
        f.out["noop"] = noop.to_json();
    }
    f.out["by_store"][kind.key()]["full"] = full_json;
    f.out["by_store"][kind.key()]["noop"] = noop.to_json();
    Ok((full, noop))
}
