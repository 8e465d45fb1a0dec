//! Trying a mapper before swapping it: a dry run of a job with a candidate
//! `.wasm` in place of the served mapper of the same name. The candidate is
//! validated as a file in the job's tenant folder would be (signature rule,
//! component, contract, `describe`) and is never installed.

use std::path::Path;

use anyhow::{anyhow, bail, Result};

use super::{Host, RunReport, SyncRequest};
use crate::config::JobConfig;
use crate::model::PluginKind;
use crate::registry::admit;
use crate::runtime::{signature, LoadedPlugin, Origin};

impl Host {
    /// Validate the candidate mapper `bytes` (named `path` in errors) for a
    /// run of `tenant`'s jobs, off the async threads (it compiles).
    pub async fn load_candidate(
        &self,
        tenant: &str,
        path: &Path,
        bytes: Vec<u8>,
    ) -> Result<LoadedPlugin> {
        let registry = self.registry();
        let trust = registry.policy().trust(Some(tenant)).clone();
        let keys = registry.policy().all_keys();
        let (rt, path) = (self.runtime.clone(), path.to_path_buf());
        let plugin = tokio::task::spawn_blocking(move || {
            let verdict = signature::verify(&bytes, &keys);
            admit(&verdict, &trust).map_err(|reason| {
                anyhow!("the candidate {} is refused: {reason}", path.display())
            })?;
            let mut plugin = rt.load_bytes(&path, &bytes, Origin::File)?;
            plugin.signature = verdict;
            anyhow::Ok(plugin)
        })
        .await??;
        if plugin.kind() != PluginKind::Mapper {
            bail!(
                "the candidate {} is a {}, not a mapper; --mapper takes a mapper plugin",
                plugin.path.display(),
                plugin.kind()
            );
        }
        Ok(plugin)
    }

    /// A dry run of the job with `candidate` in place of the served mapper
    /// of its name. It reads everything (a mapper change touches every
    /// record, which an incremental read would not show) and applies
    /// nothing; the run record names the candidate.
    pub async fn sync_with_candidate(
        &self,
        req: &SyncRequest,
        candidate: LoadedPlugin,
    ) -> Result<RunReport> {
        let req = SyncRequest {
            dry_run: true,
            full: true,
            ..req.clone()
        };
        self.run(&req, Some(&candidate)).await
    }
}

/// Which of the job's mappers the candidate replaces: the one with its
/// manifest name, or the only one.
pub(super) fn slot(job: &JobConfig, candidate: &LoadedPlugin) -> Result<usize> {
    let name = &candidate.manifest.name;
    if let Some(i) = job.mappers.iter().position(|m| m == name) {
        return Ok(i);
    }
    if job.mappers.len() == 1 {
        return Ok(0);
    }
    bail!(
        "the candidate mapper is named {name:?}, but job {} chains the mappers {:?}: a candidate replaces the served mapper of the same name (set its manifest name), or the job's only mapper",
        job.id,
        job.mappers
    )
}

/// The run record's label of a mapper: the candidate says so.
pub(super) fn label(mapper: &LoadedPlugin, candidate: Option<&LoadedPlugin>) -> String {
    match candidate {
        Some(c) if c.path == mapper.path && c.hash == mapper.hash => {
            format!("{} (candidate {})", mapper.label(), mapper.path.display())
        }
        _ => mapper.label(),
    }
}
