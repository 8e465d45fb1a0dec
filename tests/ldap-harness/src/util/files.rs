//! Small file-system helpers: modes, private files, directories, tree copies.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use super::process::run;

pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))
}

pub(crate) fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .with_context(|| format!("create {}", path.display()))?;
    set_mode(path, 0o600)?;
    f.write_all(contents)?;
    Ok(())
}

/// `cp -a src dst` (keeps xattrs, which Samba's sysvol uses).
pub(crate) fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    run(Command::new("cp").arg("-a").arg(src).arg(dst))?;
    Ok(())
}

pub(crate) fn ensure_dir(p: &Path) -> Result<PathBuf> {
    fs::create_dir_all(p).with_context(|| format!("mkdir -p {}", p.display()))?;
    Ok(p.to_path_buf())
}
