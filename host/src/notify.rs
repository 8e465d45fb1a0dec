//! Notifications: every finished run and every license shortage go to the
//! log, and to the job's webhook (HTTP POST, JSON, retried with backoff) if
//! one is configured. A failing webhook never fails a run.

use std::time::Duration;

use serde::Serialize;

use crate::engine::Plan;
use crate::store::RunRecord;

#[derive(Debug, Serialize)]
pub struct Notification<'a> {
    /// `run_finished` or `license_shortage`.
    pub event: &'static str,
    pub tenant: &'a str,
    pub job: &'a str,
    pub run_id: &'a str,
    pub outcome: &'a str,
    pub dry_run: bool,
    pub message: Option<&'a str>,
    pub counts: crate::engine::Counts,
    pub warnings: &'a [String],
}

const ATTEMPTS: u32 = 4;

/// Log the run's result and POST it (and any license shortage) to the webhook.
pub async fn run_finished(run: &RunRecord, plan: Option<&Plan>, webhook: Option<&str>) {
    let empty = Plan::default();
    let plan = plan.unwrap_or(&empty);
    let counts = plan.counts();
    let base = |event| Notification {
        event,
        tenant: &run.tenant_id,
        job: &run.job_id,
        run_id: &run.id,
        outcome: run.outcome.as_str(),
        dry_run: run.dry_run,
        message: run.message.as_deref(),
        counts: counts.clone(),
        warnings: &plan.warnings,
    };
    tracing::info!(tenant = %run.tenant_id, job = %run.job_id, run = %run.id, outcome = %run.outcome, created = counts.created, updated = counts.updated, deactivated = counts.deactivated, errors = counts.errors, "run finished");
    let shortage = matches!(plan.stop, Some(crate::engine::Stop::License { .. }))
        || plan
            .warnings
            .iter()
            .any(|w| w.starts_with("license shortage"));
    if shortage {
        tracing::warn!(tenant = %run.tenant_id, job = %run.job_id, run = %run.id, "license shortage: {}", run.message.as_deref().or(plan.warnings.iter().find(|w| w.starts_with("license shortage")).map(String::as_str)).unwrap_or(""));
    }
    let Some(url) = webhook else { return };
    post(url, &base("run_finished")).await;
    if shortage {
        post(url, &base("license_shortage")).await;
    }
}

/// POST with retries (1 s, 2 s, 4 s). Only the host is logged: a webhook
/// URL may carry a token in its path or query.
async fn post(url: &str, body: &Notification<'_>) {
    let host = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "(invalid URL)".into());
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => return tracing::warn!("cannot build the webhook client: {e}"),
    };
    let mut delay = Duration::from_secs(1);
    for attempt in 1..=ATTEMPTS {
        match client.post(url).json(body).send().await {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => {
                tracing::warn!(webhook_host = %host, attempt, status = r.status().as_u16(), "webhook answered with an error")
            }
            Err(e) => {
                tracing::warn!(webhook_host = %host, attempt, "webhook unreachable: {}", e.without_url())
            }
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
    }
    tracing::warn!(webhook_host = %host, event = body.event, "giving up on the webhook after {ATTEMPTS} attempts");
}
