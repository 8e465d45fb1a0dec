//! The connector checks on the fixture's data as files under `/input`:
//! a full read, stable ids, a checkpoint, an incremental read of the
//! changed data set (only the changes, removals, a new cursor), reasons on
//! rejects. Clean errors and bounded memory are in `failures.rs`.

use std::collections::BTreeSet;

use anyhow::Result;

use super::capture::{Capture, Subject};
use super::fixture::{Fixture, Scratch};
use super::report::Verdict;
use crate::model::ReadMode;
use crate::runtime::Grant;

pub const FULL: &str = "full read returns users";
pub const IDS: &str = "ids are non-empty and unique";
pub const STABLE: &str = "ids are stable across full reads";
pub const CHECKPOINT: &str = "a checkpoint is given";
pub const CHANGES: &str = "a full read of changed data drops deletions";
pub const INCREMENTAL: &str = "incremental read returns only the changes";
pub const REMOVES: &str = "incremental read removes deleted records";
pub const NEW_CURSOR: &str = "incremental read gives a new checkpoint";
pub const REASONS: &str = "every reject carries a reason";

/// At most a few examples in a message.
pub fn some(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let all: Vec<String> = items
        .into_iter()
        .map(|s| format!("{:?}", s.as_ref()))
        .collect();
    match all.len() {
        0..=5 => all.join(", "),
        n => format!("{} and {} more", all[..5].join(", "), n - 5),
    }
}

pub fn incremental(subject: &Subject) -> bool {
    subject
        .plugin
        .manifest
        .capabilities
        .iter()
        .any(|c| c == "incremental")
}

/// Every check on the scenario with the data as files under `/input`.
pub fn files(
    subject: &Subject,
    fixture: &Fixture,
    source: &str,
    scratch: &Scratch,
) -> Result<Vec<Verdict>> {
    let grant = Grant {
        input_dir: Some(scratch.input()),
        ..Grant::default()
    };
    scratch.load(&fixture.first)?;
    let (first, one) = subject.read(&grant, source, &ReadMode::Full);
    let mut out = vec![full_read(&first, &one, &fixture.expect.ids, "")];
    if first.is_err() || one.users.is_empty() {
        out.push(Verdict::skip(
            STABLE,
            "needs a full read that returns users",
        ));
        return Ok(out);
    }
    out.push(ids(&one));
    let (second, two) = subject.read(&grant, source, &ReadMode::Full);
    out.push(stable(&one, &second, &two));
    out.push(checkpoint(subject, &two));
    let mut captures = vec![one, two.clone()];
    if let Some(changed) = &fixture.second {
        scratch.load(changed)?;
        if incremental(subject) {
            // Without a checkpoint (already a failure) read from an empty
            // cursor anyway, so what the read returns is judged too.
            let cursor = two.checkpoints.last().cloned().unwrap_or_default();
            let (read, inc) = subject.read(&grant, source, &ReadMode::Incremental(cursor.clone()));
            out.extend(incremental_checks(fixture, &cursor, &read, &inc));
            captures.push(inc);
        } else {
            out.push(Verdict::skip(
                INCREMENTAL,
                format!(
                    "{} declares no \"incremental\" capability: every run is a full read",
                    subject.plugin.manifest.name
                ),
            ));
        }
        let (read, after) = subject.read(&grant, source, &ReadMode::Full);
        out.push(full_after_changes(fixture, &read, &after));
        captures.push(after);
    } else {
        out.push(Verdict::skip(
            INCREMENTAL,
            "the fixture has no second/ data set",
        ));
    }
    out.push(reasons(&captures));
    Ok(out)
}

/// A full read that worked and returned users (the expected ones, if the
/// fixture names them). `how` says where the data came from.
pub fn full_read(result: &Result<()>, c: &Capture, expected: &[String], how: &str) -> Verdict {
    let name = if how.is_empty() {
        FULL
    } else {
        super::failures::HTTPS_FULL
    };
    if let Err(e) = result {
        return Verdict::fail(name, format!("the read failed: {e:#}"), "read the fixture's data without an error; run it with RUST_LOG=debug to see the plugin's log");
    }
    if c.users.is_empty() {
        return Verdict::fail(
            name,
            "the read succeeded but sent no users",
            "send every user in scope through target.put-users",
        );
    }
    let got: BTreeSet<String> = c.user_ids().into_iter().collect();
    let want: BTreeSet<String> = expected.iter().cloned().collect();
    if !want.is_empty() && got != want {
        return Verdict::fail(
            name,
            format!(
                "ids differ from the fixture's expect.ids: missing {}; unexpected {}",
                some(want.difference(&got)),
                some(got.difference(&want))
            ),
            "use the source's immutable id column or attribute as each record's id",
        );
    }
    Verdict::pass(name, format!("{} users{how}", c.users.len()))
}

fn ids(c: &Capture) -> Verdict {
    let empty = c.users.iter().filter(|u| u.id.trim().is_empty()).count();
    let mut seen = BTreeSet::new();
    let dupes: Vec<&str> = c
        .users
        .iter()
        .filter(|u| !seen.insert(&u.id))
        .map(|u| u.id.as_str())
        .collect();
    let problem = match (empty, dupes.is_empty()) {
        (0, true) => None,
        (0, false) => Some(format!(
            "the same id was sent more than once: {}",
            some(&dupes)
        )),
        (n, _) => Some(format!("{n} users have an empty id")),
    };
    Verdict::judge(
        IDS,
        problem,
        format!("{} distinct ids", c.users.len()),
        "give every record its source's immutable id (reject a record that has none, with a reason)",
    )
}

fn stable(one: &Capture, second: &Result<()>, two: &Capture) -> Verdict {
    if let Err(e) = second {
        return Verdict::fail(
            STABLE,
            format!("the second full read failed: {e:#}"),
            "a read of unchanged data must work every time",
        );
    }
    let (a, b) = (one.user_ids(), two.user_ids());
    let problem = (a != b).then(|| {
        let (sa, sb): (BTreeSet<_>, BTreeSet<_>) = (a.iter().collect(), b.iter().collect());
        format!(
            "two full reads of identical data gave different ids: first only {}; second only {}",
            some(sa.difference(&sb).map(|s| s.as_str())),
            some(sb.difference(&sa).map(|s| s.as_str()))
        )
    });
    Verdict::judge(
        STABLE,
        problem,
        "two full reads of identical data gave the same ids",
        "derive each id from an immutable source attribute (employee number, entryUUID, objectGUID), never from a counter, a random value or the row position: a new id makes the host deactivate the user and create another",
    )
}

fn checkpoint(subject: &Subject, c: &Capture) -> Verdict {
    match c.checkpoints.last() {
        Some(cursor) => Verdict::pass(CHECKPOINT, format!("cursor {cursor:?}")),
        None if incremental(subject) => Verdict::fail(
            CHECKPOINT,
            "the full read gave no checkpoint, so an incremental run has nowhere to start",
            "call target.checkpoint(cursor) at the end of every read (a timestamp, a USN, a sync cookie)",
        ),
        None => Verdict::skip(CHECKPOINT, "none given; only needed for incremental reads, which it does not declare"),
    }
}

fn incremental_checks(
    fixture: &Fixture,
    cursor: &str,
    read: &Result<()>,
    c: &Capture,
) -> Vec<Verdict> {
    if let Err(e) = read {
        let detail = format!("the incremental read from {cursor:?} failed: {e:#}");
        let fix = "read the changes since the cursor the last read checkpointed";
        return vec![
            Verdict::fail(INCREMENTAL, detail.clone(), fix),
            Verdict::fail(REMOVES, detail.clone(), fix),
            Verdict::fail(NEW_CURSOR, detail, fix),
        ];
    }
    let want: BTreeSet<String> = fixture.expect.changed.iter().cloned().collect();
    let got: BTreeSet<String> = c.user_ids().into_iter().collect();
    let extra: Vec<&String> = got.difference(&want).collect();
    let missing: Vec<&String> = want.difference(&got).collect();
    let only = match (extra.is_empty(), missing.is_empty()) {
        (true, true) => None,
        (false, _) => Some(format!(
            "returned {} users, {} of them unchanged since the cursor (e.g. {})",
            got.len(),
            extra.len(),
            some(&extra)
        )),
        (true, false) => Some(format!("missed changed users {}", some(&missing))),
    };
    let removed: BTreeSet<String> = c.removed_users().into_iter().collect();
    let not_removed: Vec<&String> = fixture
        .expect
        .removed
        .iter()
        .filter(|id| !removed.contains(*id))
        .collect();
    vec![
        Verdict::judge(
            INCREMENTAL,
            only,
            format!("{} changed users, as expected", got.len()),
            "on an incremental read send only the records changed since the cursor; the host keeps the others",
        ),
        Verdict::judge(
            REMOVES,
            (!not_removed.is_empty()).then(|| format!("deleted users not removed: {}", some(&not_removed))),
            format!("removed {}", some(&fixture.expect.removed)),
            "call target.remove(user, ids) for records deleted since the cursor (a full read needs none: the host sees who is missing)",
        ),
        Verdict::judge(
            NEW_CURSOR,
            c.checkpoints.is_empty().then(|| "the incremental read gave no checkpoint".to_string()),
            format!("cursor {:?}", c.checkpoints.last().map(String::as_str).unwrap_or_default()),
            "call target.checkpoint(cursor) at the end of every read, so the next run starts there",
        ),
    ]
}

fn full_after_changes(fixture: &Fixture, read: &Result<()>, c: &Capture) -> Verdict {
    if let Err(e) = read {
        return Verdict::fail(
            CHANGES,
            format!("a full read of second/ failed: {e:#}"),
            "read the changed data set without an error",
        );
    }
    let got: BTreeSet<String> = c.user_ids().into_iter().collect();
    let kept: Vec<&String> = fixture
        .expect
        .removed
        .iter()
        .filter(|id| got.contains(*id))
        .collect();
    let missing: Vec<&String> = fixture
        .expect
        .changed
        .iter()
        .filter(|id| !got.contains(*id))
        .collect();
    let problem = match (kept.is_empty(), missing.is_empty()) {
        (true, true) => None,
        (false, _) => Some(format!("still returned deleted users {}", some(&kept))),
        (true, false) => Some(format!(
            "did not return new or changed users {}",
            some(&missing)
        )),
    };
    Verdict::judge(
        CHANGES,
        problem,
        format!("{} users, none of the deleted ones", got.len()),
        "a full read returns exactly what the source holds now",
    )
}

fn reasons(captures: &[Capture]) -> Verdict {
    let all: Vec<_> = captures.iter().flat_map(|c| &c.rejects).collect();
    let bare: Vec<&str> = all
        .iter()
        .filter(|r| r.message.trim().is_empty())
        .map(|r| r.record.as_str())
        .collect();
    if all.is_empty() {
        return Verdict::pass(
            REASONS,
            "no record was rejected (the fixture's data has no bad records)",
        );
    }
    Verdict::judge(
        REASONS,
        (!bare.is_empty()).then(|| format!("{} of {} rejects have no reason (records {})", bare.len(), all.len(), some(&bare))),
        format!("{} rejects, each with a reason (e.g. {:?}: {})", all.len(), all[0].record, all[0].message),
        "call target.reject(record, reason) with what is wrong and how to fix it, e.g. \"line 7: no employee_id\"",
    )
}
