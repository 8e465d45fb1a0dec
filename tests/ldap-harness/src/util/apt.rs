//! Installing missing Debian packages with apt-get.

use std::fs::{self, File};
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use anyhow::{bail, Context, Result};

use super::files::set_mode;
use super::process::run;

pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

static APT: Mutex<()> = Mutex::new(());

/// Installs Debian `packages` (without recommends) unless every path in `needed` exists.
///
/// Services are kept from starting during the install with a temporary `/usr/sbin/policy-rc.d`
/// (exit 101) when none exists. `apt-get update` runs only if the first install attempt fails.
/// Concurrent callers (threads or processes) are serialized with a lock file.
pub fn ensure_packages(needed: &[&str], packages: &[&str]) -> Result<()> {
    let missing = || needed.iter().any(|p| !Path::new(p).exists());
    if !missing() {
        return Ok(());
    }
    let _g = APT.lock().unwrap_or_else(|e| e.into_inner());
    let lock = File::create("/tmp/usersync-ldap-harness-apt.lock")?;
    lock.lock()?;
    if !missing() {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "packages {packages:?} are missing (no {:?}) and we are not root: install them with \
             `apt-get install --no-install-recommends {}`",
            needed
                .iter()
                .filter(|p| !Path::new(p).exists())
                .collect::<Vec<_>>(),
            packages.join(" ")
        );
    }
    let policy = Path::new("/usr/sbin/policy-rc.d");
    let created_policy = if policy.exists() {
        false
    } else {
        fs::write(
            policy,
            "#!/bin/sh\n# temporary, from usersync's ldap-harness\nexit 101\n",
        )?;
        set_mode(policy, 0o755)?;
        true
    };
    let install = || {
        run(Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"))
    };
    let result = install().or_else(|first| {
        eprintln!("ldap-harness: apt-get install failed, running apt-get update: {first:#}");
        run(Command::new("apt-get")
            .args(["update"])
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
        install()
    });
    if created_policy {
        let _ = fs::remove_file(policy);
    }
    result.with_context(|| format!("installing {packages:?}"))?;
    if missing() {
        bail!("installed {packages:?} but still missing one of {needed:?}");
    }
    Ok(())
}
