//! `--serve`: the bench's directory, served for work by hand (a profile, a debug log of one
//! step) instead of measured. Prints what to run; stops when stdin closes.

use std::io::Read;

use anyhow::{Context, Result};

use crate::directory::Directory;
use crate::store::Kind;
use crate::{say, Bench};

pub fn serve(b: &Bench) -> Result<()> {
    let args = &b.args;
    let d = Directory::start(args.users, args.groups, args.seed)?;
    let us = b.usersync("serve", &d, Kind::Sqlite)?;
    let changes = d.spec.changes(args.changes, args.seed);
    let ldif = us.dir.join("changes.ldif");
    std::fs::write(&ldif, &changes.ldif).context("write the changes' LDIF")?;
    let sync = format!(
        "{} --config {} sync --job {}",
        args.usersync.display(),
        us.config.display(),
        crate::runner::JOB
    );
    say(format!(
        "serving {} users / {} groups at {}",
        args.users,
        args.groups,
        d.slapd.ldap_url()
    ));
    say(format!("  full sync:       {sync} --full"));
    say(format!("  incremental:     {sync}"));
    say(format!(
        "  the changes:     {} ({}), applied once with ldapmodify when you press Enter",
        ldif.display(),
        changes.summary()
    ));
    say("  stop: close stdin (Ctrl-D)");
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line)? > 0 {
        d.slapd.modify(&changes.ldif).context("apply the changes")?;
        say("  changes applied; waiting for slapd's overlays to finish");
        let settled = crate::settle::wait_for_idle(d.slapd.pid());
        say(format!(
            "  slapd {} after {:.0} s",
            if settled.idle {
                "is idle"
            } else {
                "is still busy"
            },
            settled.waited.as_secs_f64()
        ));
        std::io::stdin().read_to_end(&mut Vec::new())?;
    }
    Ok(())
}
