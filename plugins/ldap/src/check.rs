//! `test-connection`: each stage green or red with the reason: TCP reach,
//! TLS, bind (from the host, which owns the connection), then the base DNs
//! and a sample count of what the filters find.

use usersync_sdk::host::ldap::{self, Scope};
use usersync_sdk::{Check, CheckStatus};

use crate::config::{Config, Incremental, Resolved};
use crate::cursor::Cursor;
use crate::read;
use crate::search;
use crate::server::Server;

fn skipped(stage: &str, why: &str) -> Check {
    Check {
        stage: stage.into(),
        status: CheckStatus::Skipped,
        detail: why.into(),
    }
}

pub fn run(config: Config) -> Vec<Check> {
    let mut checks = Vec::new();
    if let Err(e) = config.validate() {
        checks.push(Check::failed("configuration", e));
        return checks;
    }
    checks.push(Check::ok("configuration", "parsed"));
    for stage in ldap::check() {
        let check = if stage.ok {
            Check::ok(&stage.name, stage.detail)
        } else {
            Check::failed(&stage.name, stage.detail)
        };
        let failed = !stage.ok;
        checks.push(check);
        if failed {
            let why = match stage.name.as_str() {
                "bind" => "the bind failed",
                "tls" => "the TLS handshake failed",
                _ => "the server could not be reached",
            };
            for later in ["base_dn", "users", "groups"] {
                checks.push(skipped(later, why));
            }
            return checks;
        }
    }
    let server = match Server::read() {
        Ok(s) => s,
        Err(e) => {
            checks.push(Check::failed(
                "base_dn",
                format!("reading the root DSE failed: {e}"),
            ));
            return checks;
        }
    };
    let cfg = match config.resolve(server.naming_context.clone()) {
        Ok(c) => c,
        Err(e) => {
            checks.push(Check::failed("base_dn", e));
            return checks;
        }
    };
    let mut bases_ok = true;
    for base in dedup([cfg.users_base.clone(), cfg.groups_base.clone()]) {
        let mut req = search::request(&cfg, &base, "(objectClass=*)", vec!["1.1".into()]);
        req.scope = Scope::Base;
        req.page_size = 0;
        match search::all(&req) {
            Ok(found) if !found.is_empty() => {
                checks.push(Check::ok("base_dn", format!("{base} exists")))
            }
            Ok(_) | Err(_) => {
                bases_ok = false;
                checks.push(Check::failed(
                    "base_dn",
                    format!("{base} does not exist or is not readable by the bind DN; check source.users_base / groups_base"),
                ));
            }
        }
    }
    if !bases_ok {
        return checks;
    }
    checks.push(sample("users", &cfg.users_base, &cfg.user_filter, &cfg));
    checks.push(sample("groups", &cfg.groups_base, &cfg.group_filter, &cfg));
    // The mode the next full run will set up: syncprov may be advertised
    // where the overlay is not on this database, and then it is timestamps.
    let mode = read::mode(&cfg, &server).and_then(|mode| {
        Ok(match read::starting_cursor(&cfg, &server, mode)? {
            Cursor::Timestamp { .. } => Incremental::Timestamp,
            _ => mode,
        })
    });
    match mode {
        Ok(mode) => {
            checks.push(Check::ok("incremental", format!("{mode:?}").to_lowercase()));
            checks.push(deletions(&cfg, &server, mode));
        }
        Err(e) => checks.push(Check::failed("incremental", e)),
    }
    checks
}

/// How incremental runs will see deletions, and what is missing for the
/// immediate way.
fn deletions(cfg: &Resolved, server: &Server, mode: Incremental) -> Check {
    let every = cfg.deletion_check_minutes;
    match mode {
        Incremental::Usn if read::tombstones_readable(cfg, server) => {
            Check::ok("deletions", "deleted objects are readable: incremental runs see deletions at once")
        }
        Incremental::Usn => Check::ok(
            "deletions",
            read::tombstones_hidden(cfg, server.naming_context.as_deref().unwrap_or_default()),
        ),
        Incremental::Timestamp => Check::ok(
            "deletions",
            format!("timestamp searches cannot see deletions (no syncprov overlay): incremental runs list every entryUUID in scope at most every {every} minutes (source.deletion_check_minutes)"),
        ),
        Incremental::ContentSync => Check::ok("deletions", "content sync reports deletions"),
        _ => Check::ok("deletions", "every run is a full read"),
    }
}

/// Past this many entries a count stops and says "at least".
const COUNT_LIMIT: usize = 1_000_000;

/// Count what a filter finds: a paged search for no attributes (~1 s per
/// 100k entries).
fn sample(stage: &str, base: &str, filter: &str, cfg: &Resolved) -> Check {
    let mut req = search::request(cfg, base, filter, vec!["1.1".into()]);
    req.page_size = req.page_size.max(1000);
    let mut count = 0usize;
    let counted = ldap::open_search(&req).and_then(|s| {
        while count < COUNT_LIMIT {
            let page = s.next_page()?.len();
            if page == 0 {
                break;
            }
            count += page;
        }
        Ok(())
    });
    match counted {
        Ok(()) if count >= COUNT_LIMIT => Check::ok(
            stage,
            format!("{filter} finds at least {count} under {base} (stopped counting there)"),
        ),
        Ok(()) if count == 0 => Check::failed(
            stage,
            format!(
                "{filter} finds nothing under {base}; check source.{}_filter",
                stage.trim_end_matches('s')
            ),
        ),
        Ok(()) => Check::ok(stage, format!("{filter} finds {count} under {base}")),
        Err(e) => Check::failed(stage, e),
    }
}

fn dedup(v: [String; 2]) -> Vec<String> {
    if v[0].eq_ignore_ascii_case(&v[1]) {
        vec![v[0].clone()]
    } else {
        v.to_vec()
    }
}
