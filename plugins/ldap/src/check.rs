//! `test-connection`: each stage green or red with the reason: TCP reach,
//! TLS, bind (from the host, which owns the connection), then the base DNs
//! and a sample count of what the filters find.

use usersync_sdk::host::ldap::{self, Scope};
use usersync_sdk::{Check, CheckStatus};

use crate::config::Config;
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
            for later in ["base_dn", "users", "groups"] {
                checks.push(skipped(later, "the server could not be reached"));
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
    match read::mode(&cfg, &server) {
        Ok(mode) => checks.push(Check::ok("incremental", format!("{mode:?}").to_lowercase())),
        Err(e) => checks.push(Check::failed("incremental", e)),
    }
    checks
}

/// Count what a filter finds, reading one page at most.
fn sample(stage: &str, base: &str, filter: &str, cfg: &crate::config::Resolved) -> Check {
    let req = search::request(cfg, base, filter, vec!["1.1".into()]);
    let mut count = 0usize;
    let mut first = true;
    let counted = ldap::open_search(&req).and_then(|s| {
        // One page is a sample; whole counts would read the directory.
        while first {
            first = false;
            count += s.next_page()?.len();
        }
        Ok(())
    });
    match counted {
        Ok(()) if count as u32 >= cfg.page_size => Check::ok(
            stage,
            format!("{filter} finds at least {count} under {base}"),
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
