//! `ldapsearch` helpers shared by both servers; each server supplies a
//! `client(tool)` command that already carries its URL, bind and CA.

use anyhow::{bail, Result};
use std::process::Command;

use std::path::Path;

use super::{count_dns, parse_ldif, run_stdout, tool, LdifEntry};

/// An OpenLDAP client tool with `-H url -x -D bind -y password_file` and
/// `LDAPTLS_CACERT` set: how both servers' helpers talk to them.
pub(crate) fn bound_client(
    program: &str,
    url: &str,
    ca: &Path,
    bind: &str,
    password_file: &Path,
) -> Command {
    let mut c = tool(program);
    c.env("LDAPTLS_CACERT", ca)
        .args(["-H", url, "-x", "-D", bind, "-y"])
        .arg(password_file);
    c
}

const LDIF_FLAGS: [&str; 3] = ["-LLL", "-o", "ldif-wrap=no"];

/// `ldapsearch -LLL -o ldif-wrap=no` with `args` appended; returns stdout.
pub(crate) fn ldapsearch(client: Command, args: &[&str]) -> Result<String> {
    let mut c = client;
    run_stdout(c.args(LDIF_FLAGS).args(args))
}

/// Entries under `base` (subtree) matching `filter`, read with a paged search.
pub(crate) fn search_count(client: Command, base: &str, filter: &str) -> Result<usize> {
    let out = ldapsearch(
        client,
        &[
            "-E",
            "pr=1000/noprompt",
            "-b",
            base,
            "-s",
            "sub",
            filter,
            "1.1",
        ],
    )?;
    Ok(count_dns(&out))
}

/// Entries under `base` (subtree) matching `filter` with `attrs`, paged.
pub(crate) fn search(
    client: Command,
    base: &str,
    filter: &str,
    attrs: &[&str],
) -> Result<Vec<LdifEntry>> {
    let mut args = vec!["-E", "pr=1000/noprompt", "-b", base, "-s", "sub", filter];
    args.extend_from_slice(attrs);
    parse_ldif(&ldapsearch(client, &args)?)
}

/// The entry at `dn` (base search), if it exists.
pub(crate) fn get(client: Command, dn: &str, attrs: &[&str]) -> Result<Option<LdifEntry>> {
    let mut args = vec!["-b", dn, "-s", "base", "(objectClass=*)"];
    args.extend_from_slice(attrs);
    let mut c = client;
    let out = c.args(LDIF_FLAGS).args(&args).output()?;
    match out.status.code() {
        Some(0) => Ok(parse_ldif(&String::from_utf8_lossy(&out.stdout))?
            .into_iter()
            .next()),
        Some(32) => Ok(None), // noSuchObject
        _ => bail!(
            "ldapsearch -b {dn} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    }
}
