//! File watching with `notify`, debounced: a path is handed on once it has
//! been quiet for [`DEBOUNCE`], so a file being written is read only after
//! the writer is done (writers should still copy to a temporary name and
//! rename into place: a rename is atomic, a slow copy is not).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::Instant;

pub const DEBOUNCE: Duration = Duration::from_millis(200);

/// A watched folder; dropping it stops the watching.
pub struct Watch {
    _watcher: RecommendedWatcher,
    rx: mpsc::UnboundedReceiver<PathBuf>,
    pending: HashMap<PathBuf, Instant>,
}

impl Watch {
    pub fn new(dir: &Path, recursive: bool) -> Result<Watch> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let Ok(event) = res else { return };
            // Reads (ours included: loading a plugin reads it) are not changes.
            if let EventKind::Access(kind) = event.kind {
                if kind != AccessKind::Close(AccessMode::Write) {
                    return;
                }
            }
            for path in event.paths {
                let _ = tx.send(path);
            }
        })
        .context("cannot start watching files")?;
        let mode = if recursive {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        watcher
            .watch(dir, mode)
            .with_context(|| format!("cannot watch {}", dir.display()))?;
        Ok(Watch {
            _watcher: watcher,
            rx,
            pending: HashMap::new(),
        })
    }

    /// The next paths that changed and have been quiet for [`DEBOUNCE`];
    /// `None` once the watcher is gone.
    pub async fn changed(&mut self) -> Option<Vec<PathBuf>> {
        loop {
            let now = Instant::now();
            let quiet: Vec<PathBuf> = self
                .pending
                .iter()
                .filter(|(_, at)| **at + DEBOUNCE <= now)
                .map(|(p, _)| p.clone())
                .collect();
            if !quiet.is_empty() {
                for p in &quiet {
                    self.pending.remove(p);
                }
                return Some(with_contents(quiet));
            }
            let deadline = self.pending.values().min().map(|at| *at + DEBOUNCE);
            tokio::select! {
                path = self.rx.recv() => {
                    self.pending.insert(path?, Instant::now());
                }
                _ = sleep_until(deadline) => {}
            }
        }
    }
}

/// `paths` plus, for each folder among them, the files already inside it
/// (two levels down, e.g. `tenants/<t>/x.wasm`): inotify watches a new
/// folder only once it is reported, so a file renamed into it a moment
/// after it was made raises no event of its own.
fn with_contents(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    fn walk(dir: &Path, depth: u32, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for path in entries.flatten().map(|e| e.path()) {
            if path.is_dir() {
                if depth > 0 {
                    walk(&path, depth - 1, out);
                }
            } else if !out.contains(&path) {
                out.push(path);
            }
        }
    }
    let mut out = paths.clone();
    for p in paths.iter().filter(|p| p.is_dir()) {
        walk(p, 1, &mut out);
    }
    out
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
