//! Agent mode: `usersync agent` runs a tenant's agent jobs' connectors
//! inside the directory's network and sends what they read to a hosted
//! `usersync serve` over HTTPS (see docs/ARCHITECTURE.md, "Agent mode").
//! It only makes outbound connections; the directory's password and the
//! connector's grants stay in its own config (`config.rs`).

mod client;
mod config;
mod credential;
mod plugins;
pub mod protocol;
mod run;
mod sink;

pub use config::AgentConfig;
pub use credential::{enroll, Credential};

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use reqwest::StatusCode;

use client::{refusal, Client};
use protocol::PollRequest;

/// Poll for work and run it until the process is stopped; an error only
/// when the server refuses the credential (revoked) or it is missing.
pub async fn serve(config: AgentConfig) -> Result<()> {
    let cred = Credential::load(&config.credential_path())?;
    let server = config::server_url(&cred.server)?;
    let client = Client::new(
        &server,
        config
            .ca_file
            .as_deref()
            .map(|f| config.resolve(f))
            .as_deref(),
    )?
    .with_credential(cred.credential.clone());
    let plugins = Arc::new(plugins::PluginCache::new(config.cache_path())?);
    let config = Arc::new(config);
    let jobs: Vec<String> = config.jobs.keys().cloned().collect();
    if jobs.is_empty() {
        bail!("the agent config has no [jobs.<id>] settings: it would serve nothing");
    }
    tracing::info!(server = %server, tenant = %cred.tenant, agent = %cred.agent_id, jobs = %jobs.join(","), "agent started");
    let slots = Arc::new(tokio::sync::Semaphore::new(
        config.max_concurrent_runs as usize,
    ));
    let last_error: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
    let mut backoff = Duration::from_millis(500);
    loop {
        let permit = slots.clone().acquire_owned().await?;
        let poll = PollRequest {
            jobs: jobs.clone(),
            version: env!("CARGO_PKG_VERSION").into(),
            wait_seconds: config.poll_seconds,
            last_error: last_error.lock().ok().and_then(|mut e| e.take()),
        };
        match client.poll(&poll).await {
            Ok(Some(work)) => {
                backoff = Duration::from_millis(500);
                tracing::info!(run = %work.run_id, job = %work.job, full = work.cursor.is_none(), "work received");
                let (config, client, plugins, errors) = (
                    config.clone(),
                    client.clone(),
                    plugins.clone(),
                    last_error.clone(),
                );
                tokio::spawn(async move {
                    let job = work.job.clone();
                    if let Err(e) = run::run(config, client, plugins, work).await {
                        tracing::warn!(job = %job, "the run failed: {e:#}");
                        if let Ok(mut last) = errors.lock() {
                            *last = Some(format!("job {job}: {e:#}"));
                        }
                    }
                    drop(permit);
                });
            }
            Ok(None) => backoff = Duration::from_millis(500),
            Err(e) => {
                if refusal(&e).is_some_and(|r| r.status == StatusCode::UNAUTHORIZED) {
                    bail!("{e:#}");
                }
                tracing::warn!(
                    "polling failed, retrying in {} ms: {e:#}",
                    backoff.as_millis()
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}
