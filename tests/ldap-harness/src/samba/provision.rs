//! Provisioning a domain with `samba-tool` (cached per options and Samba version) and the
//! `smb.conf` additions made at each start.

use std::fs::{self, File};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use super::{SambaOptions, SambaTimings};
use crate::tls::TlsFiles;
use crate::util::{ensure_dir, fnv1a, run_stdout};

fn samba_version() -> String {
    run_stdout(Command::new("samba").arg("-V"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Returns a cache entry dir holding `dc/` and `provisioned-at`, provisioning it if needed.
pub(super) fn cached_provision(
    opts: &SambaOptions,
    cache: &Path,
    timings: &mut SambaTimings,
) -> Result<PathBuf> {
    ensure_dir(cache)?;
    let key = fnv1a(
        format!(
            "v1|{}|{}|{}|{}|{}|{}",
            opts.realm,
            opts.domain,
            opts.host_name,
            opts.address,
            opts.admin_password,
            samba_version()
        )
        .as_bytes(),
    );
    let entry = cache.join(format!("{key:016x}"));
    let lock = File::create(cache.join(format!("{key:016x}.lock")))?;
    lock.lock()?;
    if entry.join("complete").exists() {
        return Ok(entry);
    }
    let _ = fs::remove_dir_all(&entry);
    // we hold the key's lock: any temp dir of this key is left over from a crashed provision
    let stale_prefix = format!("{key:016x}.tmp-");
    for e in fs::read_dir(cache)?.flatten() {
        if e.file_name().to_string_lossy().starts_with(&stale_prefix) {
            let _ = fs::remove_dir_all(e.path());
        }
    }
    let tmp = cache.join(format!("{stale_prefix}{}", std::process::id()));
    let dc = tmp.join("dc");
    let t = Instant::now();
    provision(opts, &dc)?;
    timings.provision = t.elapsed();
    fs::write(tmp.join("provisioned-at"), dc.display().to_string())?;
    fs::write(tmp.join("complete"), "")?;
    match fs::rename(&tmp, &entry) {
        Ok(()) => Ok(entry),
        Err(e)
            if e.kind() == ErrorKind::DirectoryNotEmpty || e.kind() == ErrorKind::AlreadyExists =>
        {
            let _ = fs::remove_dir_all(&tmp);
            Ok(entry)
        }
        Err(e) => Err(e.into()),
    }
}

/// `samba-tool domain provision` into `dc` (which must not exist or be empty).
pub(super) fn provision(opts: &SambaOptions, dc: &Path) -> Result<()> {
    ensure_dir(dc)?;
    let d = dc.display();
    let options = [
        format!("interfaces = {}/8", opts.address),
        "bind interfaces only = yes".to_string(),
        "server services = ldap, kdc".to_string(),
        format!("pid directory = {d}/run"),
        format!("log file = {d}/log/samba.log"),
        format!("ncalrpc dir = {d}/run/ncalrpc"),
        format!("winbindd socket directory = {d}/run/winbindd"),
        format!("ntp signd socket directory = {d}/run/ntp_signd"),
        "ldb:nosync = true".to_string(),
    ];
    let mut c = Command::new("samba-tool");
    c.args([
        "domain",
        "provision",
        "--use-rfc2307",
        "--server-role=dc",
        "--dns-backend=NONE",
    ])
    .arg(format!("--realm={}", opts.realm))
    .arg(format!("--domain={}", opts.domain))
    .arg(format!("--host-name={}", opts.host_name))
    .arg(format!("--host-ip={}", opts.address))
    .arg(format!("--adminpass={}", opts.admin_password))
    .arg(format!("--targetdir={d}"));
    for o in &options {
        c.arg(format!("--option={o}"));
    }
    let out = c
        .stdin(std::process::Stdio::null())
        .output()
        .context("running samba-tool")?;
    if !out.status.success() {
        let log = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        bail!(
            "samba-tool domain provision failed ({}):\n{}",
            out.status,
            crate::util::tail(&log, 6000)
        );
    }
    Ok(())
}

/// Adds what provision drops or cannot know: simple binds over plain LDAP and our TLS files.
pub(super) fn finish_smb_conf(dc: &Path, tls: &TlsFiles) -> Result<()> {
    let conf = dc.join("etc/smb.conf");
    let text = fs::read_to_string(&conf).with_context(|| format!("read {}", conf.display()))?;
    let extra = format!(
        "[global]\n\tldap server require strong auth = no\n\ttls enabled = yes\n\ttls keyfile = {}\n\ttls certfile = {}\n\ttls cafile = {}\n",
        tls.server_key.display(),
        tls.server_cert.display(),
        tls.ca_cert.display()
    );
    if !text.contains("[global]\n") {
        bail!("{} has no [global] section", conf.display());
    }
    fs::write(&conf, text.replacen("[global]\n", &extra, 1))?;
    Ok(())
}
