//! `usersync sync`: one run of one job now, holding the job's lease like a
//! node's run, with a spinner while it runs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use super::{lease, output};
use crate::config::Config;
use crate::engine::RunOutcome;
use crate::sync::{Host, SyncRequest};

#[derive(Args)]
pub(super) struct SyncArgs {
    /// The job's id.
    #[arg(long)]
    job: String,
    /// The job's tenant (needed only when several tenants have the job id).
    #[arg(long)]
    tenant: Option<String>,
    /// Show exactly what would change, change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Read everything even if an incremental read would do.
    #[arg(long)]
    full: bool,
    /// Apply even if more users than the threshold would be deactivated.
    #[arg(long)]
    confirm_deletions: bool,
    /// Try a candidate mapper (.wasm) in place of the served mapper of
    /// its name: a full dry run that shows what it would change. The
    /// file is validated like a plugin and never installed.
    #[arg(long, requires = "dry_run", value_name = "FILE")]
    mapper: Option<PathBuf>,
}

pub(super) async fn sync(config_path: &Path, json: bool, args: SyncArgs) -> Result<ExitCode> {
    let SyncArgs {
        job,
        tenant,
        dry_run,
        full,
        confirm_deletions,
        mapper,
    } = args;
    let config = Config::load(config_path)?;
    crate::one_shot::mark();
    // An ambiguous job id is refused before anything is opened.
    let key = config.job(tenant.as_deref(), &job)?.key();
    let host = Host::open(config).await?;
    let candidate = match &mapper {
        Some(path) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("cannot read the candidate {}", path.display()))?;
            Some(host.load_candidate(&key.tenant, path, bytes).await?)
        }
        None => None,
    };
    let run_id = uuid::Uuid::new_v4().to_string();
    let lease = lease::hold(&host, &key, &run_id);
    let spinner = output::spinner(&format!("syncing job {key}"));
    let req = SyncRequest {
        job: key.job,
        tenant: Some(key.tenant),
        dry_run,
        full,
        confirm_deletions,
        run_id: Some(run_id.clone()),
        lease: Some(lease.claim()),
        take_lease: true,
        ..SyncRequest::default()
    };
    let result = match candidate {
        Some(c) => host.sync_with_candidate(&req, c).await,
        None => host.sync(&req).await,
    };
    lease.release().await;
    spinner.finish_and_clear();
    let report = match result {
        Ok(report) => report,
        Err(e) if json => {
            // A script reading stdout gets the failed run too.
            let run = host.store.run(&run_id).await.ok().flatten();
            output::failed_run(run.as_ref(), &e)?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    output::report(&report, json)?;
    // The command ends here and the process with it. The store's log is
    // left to the next process (`Backend::close`); the rest is the exit's to
    // free.
    host.store.close().await;
    crate::one_shot::drop_at_exit((host, report.plan, report.read));
    if report.run.outcome != RunOutcome::Succeeded {
        return Ok(ExitCode::from(report.run.outcome.exit_code()));
    }
    Ok(ExitCode::SUCCESS)
}
