//! The checks on how a connector fails and what it holds: a missing file, a
//! 401 answer and an unreachable server must give a clean run failure (the
//! connector's own error naming the problem, no crash, no password), and
//! memory must not grow from read to read.

use std::path::Path;

use anyhow::Result;

use super::capture::Subject;
use super::fixture::{Fixture, Https, Scratch};
use super::report::Verdict;
use crate::model::ReadMode;
use crate::runtime::{Grant, ReadRefused};

pub const MEMORY: &str = "memory stays bounded over five full reads";
pub const MISSING: &str = "a missing file fails cleanly";
pub const HTTPS_FULL: &str = "full read over HTTPS";
pub const UNAUTHORIZED: &str = "wrong credentials (HTTP 401) fail cleanly";
pub const UNREACHABLE: &str = "an unreachable server fails cleanly";

/// Growth allowed between the 2nd and the 5th read: caches settle by the 2nd.
const MAX_GROWTH: usize = 1 << 20;

pub fn memory(
    subject: &Subject,
    grant: &Grant,
    source: &str,
    scratch: &Scratch,
    first: &Path,
) -> Result<Verdict> {
    scratch.load(first)?;
    let fail = |detail: String| {
        Verdict::fail(MEMORY, detail, "free what a read allocates before it returns (no global caches that grow per read), or raise --memory-mb if the data really needs it")
    };
    let mut instance = match subject.instance(grant) {
        Ok(i) => i,
        Err(e) => return Ok(fail(format!("cannot instantiate: {e:#}"))),
    };
    let mut after_second = 0;
    for n in 1..=5 {
        if let (Err(e), _) = subject.read_on(&mut instance, source, &ReadMode::Full) {
            return Ok(fail(format!("read {n} of 5 on one instance failed: {e:#}")));
        }
        if n == 2 {
            after_second = instance.memory_bytes();
        }
    }
    let after_fifth = instance.memory_bytes();
    let growth = after_fifth.saturating_sub(after_second);
    let mib = |b: usize| b as f64 / f64::from(1 << 20);
    Ok(if growth > MAX_GROWTH {
        fail(format!(
            "linear memory grew by {:.1} MiB from the 2nd to the 5th read ({:.1} → {:.1} MiB): it keeps something per read",
            mib(growth),
            mib(after_second),
            mib(after_fifth)
        ))
    } else {
        Verdict::pass(
            MEMORY,
            format!(
                "{:.1} MiB after the 2nd read, {:.1} MiB after the 5th (limit {} MiB)",
                mib(after_second),
                mib(after_fifth),
                subject.limits.memory_mb
            ),
        )
    })
}

/// What a clean failure looks like: the connector returned an error (no
/// trap) that says one of `names`, and shows none of `secrets`.
fn clean_failure(
    check: &'static str,
    read: Result<()>,
    names: &[&str],
    secrets: &[&str],
    fix: &str,
) -> Verdict {
    let e = match read {
        Ok(()) => {
            return Verdict::fail(
                check,
                "the read succeeded: a sync would take an unreadable source for an empty one",
                fix,
            )
        }
        Err(e) => e,
    };
    let text = format!("{e:#}");
    if secrets.iter().any(|s| !s.is_empty() && text.contains(s)) {
        // Never echo the message itself: it holds the secret.
        return Verdict::fail(check, "the error message contains the password", "never put a secret in an error or log line; the host holds credentials so the plugin never sees them");
    }
    let Some(refused) = e.chain().find_map(|c| c.downcast_ref::<ReadRefused>()) else {
        return Verdict::fail(
            check,
            format!("the connector crashed instead of returning an error: {text}"),
            format!("return Err(message) from read; never panic or unwrap on I/O. {fix}"),
        );
    };
    let lower = refused.message.to_lowercase();
    if !names.iter().any(|n| lower.contains(&n.to_lowercase())) {
        return Verdict::fail(
            check,
            format!(
                "the error does not say what is wrong: {:?}",
                refused.message
            ),
            format!("{fix}; mention {}", names.join(" or ")),
        );
    }
    Verdict::pass(check, format!("failed with: {}", refused.message))
}

pub fn missing_file(
    subject: &Subject,
    source: &str,
    scratch: &Scratch,
    secrets: &[&str],
) -> Verdict {
    let grant = Grant {
        input_dir: Some(scratch.empty()),
        ..Grant::default()
    };
    let (read, _) = subject.read(&grant, source, &ReadMode::Full);
    // The message should name the file the source points at.
    let paths = input_paths(source);
    let mut names: Vec<&str> = paths.iter().map(String::as_str).collect();
    if names.is_empty() {
        names = vec!["/input", "not found", "no such file", "cannot open"];
    }
    clean_failure(
        MISSING,
        read,
        &names,
        secrets,
        "name the file that cannot be opened and say how to grant it",
    )
}

/// Strings of the `[source]` JSON under `/input/`, and their file names.
fn input_paths(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(source) {
        for v in map.values() {
            if let Some(s) = v.as_str().filter(|s| s.starts_with("/input/")) {
                out.push(s.to_string());
                if let Some(name) = s.rsplit('/').next().filter(|n| !n.is_empty()) {
                    out.push(name.to_string());
                }
            }
        }
    }
    out
}

/// The HTTPS scenario: a full read through the host's broker, then a wrong
/// password and an unreachable port.
pub fn https(
    subject: &Subject,
    fixture: &Fixture,
    https: &Https,
    origin: &str,
    ca_file: &Path,
    scratch: &Scratch,
) -> Result<Vec<Verdict>> {
    scratch.load(&fixture.first)?;
    let grant = |origin: &str, password: &str| -> Result<Grant> {
        Ok(Grant {
            http: vec![origin.to_string()],
            http_ca_file: Some(ca_file.to_path_buf()),
            http_credentials: [("fixture".to_string(), https.credential(password)?)].into(),
            ..Grant::default()
        })
    };
    let source = https.source_for(origin);
    let (read, c) = subject.read(&grant(origin, &https.password)?, &source, &ReadMode::Full);
    let mut out = vec![super::connector::full_read(
        &read,
        &c,
        &fixture.expect.ids,
        " over HTTPS through the host's brokered http",
    )];

    let wrong = format!("{}-wrong", https.password);
    let secrets = [https.password.as_str(), wrong.as_str()];
    let (read, _) = subject.read(&grant(origin, &wrong)?, &source, &ReadMode::Full);
    out.push(clean_failure(UNAUTHORIZED, read, &["401", "credential", "unauthorized", "refused"], &secrets, "on HTTP 401/403 fail the read with a message that names the status and the credential to check"));

    // A port that was free a moment ago: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let nowhere = format!("https://127.0.0.1:{closed}");
    let address = format!("127.0.0.1:{closed}");
    let source = https.source_for(&nowhere);
    let (read, _) = subject.read(&grant(&nowhere, &https.password)?, &source, &ReadMode::Full);
    out.push(clean_failure(
        UNREACHABLE,
        read,
        &[address.as_str(), "connect", "unreachable"],
        &secrets,
        "pass the host's error on (it names the server) instead of retrying forever or crashing",
    ));
    Ok(out)
}
