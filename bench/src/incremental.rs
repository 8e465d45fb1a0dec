//! Row 3: the incremental sync, the case usersync is built for (a directory that changes a
//! little between runs), checked against the directory afterwards.

use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::json;

use crate::directory::Directory;
use crate::paired::median;
use crate::report::Row;
use crate::runner::{SyncRun, Usersync};
use crate::{say, settle, verify, Bench, Findings};

/// Row 3, incremental, for each installation (one per store): nothing changed, then K mixed
/// changes applied once to the directory, after which every store must equal it. Returns each
/// installation's run after the changes (its memory is reported under 4).
pub fn measure(
    b: &Bench,
    f: &mut Findings,
    d: &Directory,
    installs: &[&Usersync],
) -> Result<Vec<SyncRun>> {
    let args = &b.args;
    let mut nothing_changed = Vec::new();
    for us in installs {
        let run = us.sync(&b.rt, false)?;
        say(format!(
            "  incremental into {}, nothing changed: {:.3} s ({})",
            us.store.kind().label(),
            run.child.wall_s,
            run.mode
        ));
        nothing_changed.push(run);
    }
    let changes = d.spec.changes(args.changes, args.seed);
    let t = Instant::now();
    d.slapd
        .modify(&changes.ldif)
        .context("apply the changes with ldapmodify")?;
    let apply_s = t.elapsed().as_secs_f64();
    say(format!(
        "  {} applied by ldapmodify in {apply_s:.1} s",
        changes.summary()
    ));
    let settled = settle::wait_for_idle(d.slapd.pid());
    say(format!(
        "  slapd's overlays {} after {:.0} s (the incremental run is timed once the server is idle)",
        if settled.idle { "finished" } else { "were still busy" },
        settled.waited.as_secs_f64()
    ));
    let mut after = Vec::new();
    for (us, inc_noop) in installs.iter().zip(nothing_changed) {
        let kind = us.store.kind();
        let (inc, samples) = after_changes(b, us)?;
        let inc_s = median(samples.clone());
        let verdict = verify::verify(&b.rt, &d.slapd, &us.store)?;
        say(format!(
            "  incremental sync into {}: {inc_s:.3} s ({} run, median of {}), store equals directory: {} ({} problems)",
            kind.label(),
            inc.mode,
            samples.iter().map(|s| format!("{s:.3}")).collect::<Vec<_>>().join(", "),
            verdict.ok(),
            verdict.problems
        ));
        for e in &verdict.examples {
            say(format!("    {e}"));
        }
        if !verdict.ok() {
            f.failures.push(format!(
                "after the incremental sync the {} store differs from the directory: {:?}",
                kind.label(),
                verdict.examples
            ));
        }
        if inc.mode != "incremental" {
            f.failures.push(format!(
                "the sync into {} after the changes was a {} run, not incremental",
                kind.label(),
                inc.mode
            ));
        }
        f.rows.push(Row::target(
            &format!(
                "3. incremental sync, nothing changed{}",
                crate::store_suffix(kind)
            ),
            inc_noop.child.wall_s,
            "s",
            0.1,
            "< 0.1 s",
        ));
        f.rows.push(Row::target(
            &format!(
                "3. incremental sync after {} changes{}",
                changes.total,
                crate::store_suffix(kind)
            ),
            inc_s,
            "s",
            0.5,
            "< 0.5 s",
        ));
        f.rows.push(Row::check(
            "   store equals directory afterwards",
            verdict.ok(),
            &format!(
                "{} users, {} groups, {} memberships compared",
                verdict.users, verdict.groups, verdict.memberships
            ),
        ));
        let figures = json!({
            "changes": {
                "total": changes.total, "user_renames": changes.user_renames,
                "group_renames": changes.group_renames, "attribute_edits": changes.attribute_edits,
                "disables": changes.disables, "enables": changes.enables, "deletions": changes.deletions,
                "additions": changes.additions, "membership_adds": changes.membership_adds,
                "membership_removes": changes.membership_removes,
            },
            "ldapmodify_s": apply_s,
            "usersync_s": inc_s,
            "usersync_samples_s": samples,
            "host_duration_ms": inc.duration_ms,
            "mode": inc.mode,
            "counts": inc.counts,
            "max_rss_mb": inc.child.max_rss_mb,
            "nothing_changed_s": inc_noop.child.wall_s,
            "nothing_changed_mode": inc_noop.mode,
            "verified": verdict.to_json(),
        });
        if after.is_empty() {
            f.out["incremental"] = figures.clone();
        }
        f.out["by_store"][kind.key()]["incremental"] = figures;
        after.push(inc);
    }
    Ok(after)
}

/// The incremental run after the changes: `--repeat` times, each from a copy of the store as
/// the changes found it, when the store can be copied (SQLite); once otherwise. Returns the
/// last run (whose store is then verified) and every run's wall time.
fn after_changes(b: &Bench, us: &Usersync) -> Result<(SyncRun, Vec<f64>)> {
    let repeat = if b.args.repeat > 1 && us.store.save()? {
        b.args.repeat
    } else {
        1
    };
    let mut run = us.sync(&b.rt, false)?;
    let mut samples = vec![run.child.wall_s];
    for _ in 1..repeat {
        us.store.restore()?;
        run = us.sync(&b.rt, false)?;
        samples.push(run.child.wall_s);
    }
    Ok((run, samples))
}
