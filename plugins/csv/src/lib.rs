//! `connector = "csv"`: reads users (and the groups named in one column)
//! from a CSV file the host mounts read-only at `/input`, or fetches it
//! over HTTPS through the host (`url`, with a credential such as basic auth).

// A 0.1 build (feature `contract-0-1`) uses the frozen SDK under the same name.
#[cfg(not(feature = "contract-0-2"))]
extern crate usersync_sdk_v01 as usersync_sdk;

mod config;
mod layout;
mod parse;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::{BufReader, Cursor, Read};

use usersync_sdk::{
    export_connector, host, log, Check, Connector, ReadMode, ReadSummary, SourceObject,
};

pub use config::Config;
use parse::{Reader, Row};

// The SDK re-exports `Check` but not its status enum; `Skipped` needs it.
use usersync_sdk::connector_world::exports::usersync::plugin::connector_api::CheckStatus;

struct CsvConnector;

fn open(config: &Config) -> Result<Reader<Box<dyn Read>>, String> {
    if let Some(url) = &config.url {
        let body = fetch(url, config.credential.as_deref())?;
        return Reader::new(Box::new(Cursor::new(body)) as Box<dyn Read>, config)
            .map_err(|e| format!("{url}: {e}"));
    }
    let path = &config.path;
    let file = File::open(path).map_err(|e| {
        format!(
            "cannot open {path}: {e}. Grant the folder that holds it with \
             `[jobs.grants] input_dir = ...` and set `path` to /input/<file>"
        )
    })?;
    let input = BufReader::with_capacity(64 * 1024, file);
    Reader::new(Box::new(input) as Box<dyn Read>, config).map_err(|e| format!("{path}: {e}"))
}

/// The file at `url`, through the host's brokered HTTP (which checks the
/// grant, adds the credential and caps the size at limits.max_output_kb).
fn fetch(url: &str, credential: Option<&str>) -> Result<Vec<u8>, String> {
    let r = host::http::get(url, credential, &[("Accept", "text/csv, text/plain, */*")])?;
    match r.status {
        200..=299 => Ok(r.body),
        401 | 403 => Err(format!(
            "{url}: the server refused the credentials (HTTP {}); check the job's [jobs.credentials.{}]",
            r.status,
            credential.unwrap_or("<set `credential` in [jobs.source]>")
        )),
        429 | 503 => {
            // The host already retried as far as its cap allows: ask for a
            // later run instead of hammering the server (as Graph and Okta do).
            let secs = retry_after(r.header("retry-after"), 60);
            host::schedule::run_again_in(secs);
            Err(format!(
                "{url}: the server is throttling (HTTP {}); asked for the next run in {secs} s",
                r.status
            ))
        }
        s => Err(format!("{url}: the server answered HTTP {s}")),
    }
}

/// Seconds from a `Retry-After` header (seconds form; at least 1), else
/// `default` (an HTTP date or a missing header).
fn retry_after(value: Option<&str>, default: u32) -> u32 {
    value
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(default)
        .max(1)
}

fn skipped(stage: &str, detail: &str) -> Check {
    Check {
        stage: stage.to_string(),
        status: CheckStatus::Skipped,
        detail: detail.to_string(),
    }
}

/// Sends `batch` (if not empty) with `put` and adds its size to `count`.
fn send(
    batch: &[SourceObject],
    count: &mut u64,
    what: &str,
    put: fn(&[SourceObject]) -> Result<(), String>,
) -> Result<(), String> {
    if !batch.is_empty() {
        put(batch).map_err(|e| format!("the host refused a batch of {what}: {e}"))?;
        *count += batch.len() as u64;
    }
    Ok(())
}

impl Connector for CsvConnector {
    const NAME: &'static str = "csv";
    const DESCRIPTION: &'static str = "Users and groups from a CSV file (one row per user)";
    const CAPABILITIES: &'static [&'static str] = &["files", "http"];
    type Config = Config;

    fn test_connection(config: Config) -> Vec<Check> {
        if let Err(e) = config.validate() {
            return vec![
                Check::failed("configuration", e),
                skipped("file", "configuration is invalid"),
                skipped("sample", "configuration is invalid"),
            ];
        }
        let mut checks = vec![Check::ok("configuration", "parsed")];
        let mut reader = match open(&config) {
            Ok(r) => r,
            Err(e) => {
                checks.push(Check::failed("file", e));
                checks.push(skipped("sample", "the file could not be read"));
                return checks;
            }
        };
        // `open` already failed if id_column is missing, so reaching here means it was found.
        let mut detail = format!(
            "columns: {}; id column `{}` found",
            reader.headers().join(", "),
            config.id_column()
        );
        for w in reader.warnings() {
            detail.push_str("; warning: ");
            detail.push_str(w);
        }
        checks.push(Check::ok("file", detail));

        let (mut users, mut rejected, mut first_reject) = (0u64, 0u64, None);
        loop {
            match reader.next_row() {
                Ok(None) => break,
                Ok(Some(Row::User(_))) => users += 1,
                Ok(Some(Row::Reject { message, .. })) => {
                    rejected += 1;
                    first_reject.get_or_insert(message);
                }
                Err(e) => {
                    checks.push(Check::failed(
                        "sample",
                        format!("after {} rows: {e}", reader.rows()),
                    ));
                    return checks;
                }
            }
        }
        let mut detail = format!(
            "{} data rows: {users} users, {rejected} rejected",
            reader.rows()
        );
        if let Some(m) = first_reject {
            detail.push_str(&format!(" (first: {m})"));
        }
        checks.push(Check::ok("sample", detail));
        checks
    }

    /// CSV has no change feed: an `Incremental` read reads the whole file
    /// too, and is complete, so departures are detected as in a full read.
    fn read(config: Config, mode: ReadMode) -> Result<ReadSummary, String> {
        config.validate()?;
        let mut reader = open(&config)?;
        for w in reader.warnings() {
            log::warn(&format!("{}: {w}", config.source()));
        }
        if let ReadMode::Incremental(cursor) = &mode {
            log::debug(&format!(
                "csv has no change feed; reading the whole file (last cursor {cursor})"
            ));
        }
        let size = config.batch_size;
        let (mut users, mut groups) = (0u64, 0u64);
        let mut batch = Vec::with_capacity(size.min(4096));
        while let Some(row) = reader.next_row()? {
            match row {
                Row::User(user) => {
                    batch.push(user);
                    if batch.len() >= size {
                        send(&batch, &mut users, "users", host::target::put_users)?;
                        batch.clear();
                    }
                }
                Row::Reject {
                    record_ref,
                    message,
                } => host::target::reject(&record_ref, &message),
            }
        }
        send(&batch, &mut users, "users", host::target::put_users)?;

        // Groups go after every user, so each member_of ref points at a group the host will see.
        for chunk in reader.group_objects().chunks(size) {
            send(chunk, &mut groups, "groups", host::target::put_groups)?;
        }
        host::target::checkpoint(&format!("csv:rows={}", reader.rows()))
            .map_err(|e| format!("the host refused the checkpoint: {e}"))?;
        Ok(ReadSummary {
            users,
            groups,
            complete: true,
        })
    }
}

export_connector!(CsvConnector);
