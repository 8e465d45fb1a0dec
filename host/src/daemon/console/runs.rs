//! Runs: the history, a run's page (outcome, counts, per-record errors,
//! warnings, the dry run's diff) and its live progress while it runs
//! (`/console/runs/{id}/progress`, JSON the page's script polls).

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use maud::{html, Markup};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::diff::{self, DiffQuery};
use super::jobs::job_link;
use super::layout::{badge, duration_ms, page, when_text};
use super::{seg, Ctx, Page, Shown};
use crate::config::JobKey;
use crate::daemon::api::runs::{self as api, RunView, RunsParams};
use crate::daemon::api::ApiQuery;
use crate::daemon::jobs::Running;

pub fn outcome_badge(r: &RunView) -> Markup {
    let o = serde_json::to_value(r.outcome)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    html! { (badge(&o)) @if r.dry_run { " " (badge("dry run")) } }
}

fn counts_summary(counts: &Value) -> String {
    let parts: Vec<String> = counts
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| v.as_u64().is_some_and(|n| n > 0))
        .map(|(k, v)| format!("{} {}", v, k.replace('_', " ")))
        .collect();
    if parts.is_empty() {
        "no changes".into()
    } else {
        parts.join(", ")
    }
}

/// A table of runs, newest first.
pub fn table(runs: &[RunView]) -> Markup {
    html! {
        @if runs.is_empty() { p { "No runs yet." } } @else {
        div class="scroll" {
            table class="runs" {
                thead { tr {
                    th scope="col" { "Run" } th scope="col" { "Job" } th scope="col" { "Started" }
                    th scope="col" { "Outcome" } th scope="col" { "Took" } th scope="col" { "Changes" }
                } }
                tbody {
                    @for r in runs {
                        tr {
                            td { a href={ "/console/runs/" (seg(&r.id)) } { code { (r.id.get(..8).unwrap_or(&r.id)) } } }
                            td { (r.tenant_id) "/" (r.job_id) }
                            td { (when_text(&r.started_at)) }
                            td { (outcome_badge(r)) }
                            td { @if let Some(ms) = r.duration_ms { (duration_ms(ms)) } }
                            td { (counts_summary(&r.counts)) }
                        }
                    }
                }
            }
        } }
    }
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    tenant: Option<String>,
    job: Option<String>,
    offset: Option<usize>,
}

pub async fn list(ctx: Ctx, Query(q): Query<ListQuery>) -> Page {
    let tenant = q.tenant.filter(|s| !s.is_empty());
    let job = q.job.filter(|s| !s.is_empty());
    let runs = api::list(
        State(ctx.daemon.clone()),
        Extension(ctx.caller.clone()),
        ApiQuery(RunsParams {
            tenant: tenant.clone(),
            job: job.clone(),
            limit: Some(50),
            offset: q.offset,
        }),
    )
    .await?
    .0;
    let next = runs.next_offset.map(|o| {
        format!(
            "/console/runs?tenant={}&job={}&offset={o}",
            seg(tenant.as_deref().unwrap_or("")),
            seg(job.as_deref().unwrap_or(""))
        )
    });
    Ok(page(
        &ctx,
        "Runs",
        "runs",
        html! {
            form method="get" action="/console/runs" class="search" {
                @if ctx.tenant_only().is_none() {
                    label for="f-tenant" { "Tenant" }
                    input id="f-tenant" name="tenant" value=(tenant.clone().unwrap_or_default());
                }
                label for="f-job" { "Job" }
                input id="f-job" name="job" value=(job.clone().unwrap_or_default());
                button type="submit" { "Filter" }
            }
            (table(&runs.runs))
            @if let Some(n) = next { nav class="pager" aria-label="Pages of runs" { a href=(n) rel="next" { "Older runs" } } }
        },
    ))
}

/// A run of a job the caller sees that is running but not yet recorded
/// (its record is written a moment after it starts).
async fn starting(ctx: &Ctx, id: &str) -> Option<(JobKey, Running)> {
    let jobs =
        crate::daemon::api::jobs::list(State(ctx.daemon.clone()), Extension(ctx.caller.clone()))
            .await
            .ok()?
            .0;
    jobs.into_iter().find_map(|j| {
        let r = j.running.filter(|r| r.run_id == id)?;
        Some((JobKey::new(&j.tenant, &j.id), r))
    })
}

fn progress_box(base: &str) -> Markup {
    html! {
        section id="progress" aria-labelledby="prog-h" data-url={ (base) "/progress" } {
            h2 id="prog-h" { "Progress" }
            div role="status" aria-live="polite" {
                dl class="facts" {
                    dt { "Phase" } dd id="p-phase" { "…" }
                    dt { "Records read" } dd id="p-read" { "…" }
                    dt { "Rate" } dd id="p-rate" { "…" }
                    dt { "Time left" } dd id="p-eta" { "…" }
                }
                progress id="p-bar" max="100" aria-label="Share of the records read" {}
            }
            noscript { p { "This page updates itself with JavaScript; without it, " a href=(base) { "reload" } " to see the progress." } }
        }
    }
}

pub async fn detail(ctx: Ctx, Path(id): Path<String>, Query(q): Query<DiffQuery>) -> Page {
    let found = api::get(
        State(ctx.daemon.clone()),
        Extension(ctx.caller.clone()),
        Path(id.clone()),
    )
    .await;
    let r = match found {
        Ok(r) => r.0,
        Err(e) => {
            let Some((key, _)) = starting(&ctx, &id).await else {
                return Err(e.into());
            };
            let base = format!("/console/runs/{}", seg(&id));
            return Ok(page(
                &ctx,
                &format!("Run {}", id.get(..8).unwrap_or(&id)),
                "runs",
                html! {
                    dl class="facts" {
                        dt { "Job" } dd { a href=(job_link(&key.tenant, &key.job)) { (key.tenant) "/" (key.job) } }
                        dt { "Run id" } dd { code { (id) } }
                        dt { "Outcome" } dd id="outcome" { (badge("running")) }
                    }
                    (progress_box(&base))
                },
            ));
        }
    };
    let running = r.finished_at.is_none();
    let diff = r.dry_run.then(|| ctx.daemon.dry_runs.get(&r.id)).flatten();
    let errors: Vec<&Value> = r.errors.as_array().into_iter().flatten().collect();
    let warnings: Vec<&Value> = r.warnings.as_array().into_iter().flatten().collect();
    let base = format!("/console/runs/{}", seg(&r.id));
    Ok(page(
        &ctx,
        &format!("Run {}", r.id.get(..8).unwrap_or(&r.id)),
        "runs",
        html! {
            dl class="facts" {
                dt { "Job" } dd { a href=(job_link(&r.tenant_id, &r.job_id)) { (r.tenant_id) "/" (r.job_id) } }
                dt { "Run id" } dd { code { (r.id) } }
                dt { "Outcome" } dd id="outcome" { (outcome_badge(&r)) }
                dt { "Mode" } dd { (serde_json::to_value(r.mode).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()) }
                dt { "Started" } dd { (when_text(&r.started_at)) }
                @if let Some(f) = &r.finished_at { dt { "Finished" } dd { (when_text(f)) @if let Some(ms) = r.duration_ms { " (" (duration_ms(ms)) ")" } } }
                @if let Some(p) = &r.phases { dt { "Phases" } dd id="phases" { (p.describe()) } }
                @if !running { dt { "Changes" } dd id="counts" { (counts_summary(&r.counts)) } }
                @if let Some(v) = &r.connector_version { dt { "Connector" } dd { (v) } }
                @if let Some(v) = &r.mapper_versions { dt { "Mappers" } dd { (v) } }
                @if let Some(n) = &r.node { dt { "Node" } dd { (n) } }
            }
            @if let Some(m) = &r.message { p class="flash info" id="run-message" { (m) } }
            @if running { (progress_box(&base)) }
            @if !errors.is_empty() {
                section aria-labelledby="err-h" {
                    h2 id="err-h" { "Errors per record (" (errors.len()) ")" }
                    div class="scroll" { table id="errors" {
                        thead { tr { th scope="col" { "Record" } th scope="col" { "Field" } th scope="col" { "Message" } } }
                        tbody { @for e in errors.iter().take(500) {
                            tr { td { (e["record"].as_str().unwrap_or("")) } td { (e["field"].as_str().unwrap_or("")) } td { (e["message"].as_str().unwrap_or("")) } }
                        } }
                    } }
                }
            }
            @if !warnings.is_empty() {
                section aria-labelledby="warn-h" {
                    h2 id="warn-h" { "Warnings" }
                    ul { @for w in &warnings { li { (w.as_str().unwrap_or("")) } } }
                }
            }
            @if r.dry_run && !running {
                @match &diff {
                    Some(set) => (diff::render(set, &q, &base)),
                    None => p class="hint" { "The diff of a dry run is kept in memory for the daemon's last 20 dry runs; this one is no longer kept. Run a dry run again to see it." },
                }
            }
        },
    ))
}

#[derive(Serialize)]
pub struct ProgressView {
    done: bool,
    phase: String,
    read: u64,
    groups: u64,
    elapsed_s: f64,
    rate: Option<f64>,
    expected: Option<u64>,
    eta_s: Option<f64>,
}

pub async fn progress(ctx: Ctx, Path(id): Path<String>) -> Result<Response, Shown> {
    // The API's own lookups: a tenant token finds only its own runs.
    let found = api::get(
        State(ctx.daemon.clone()),
        Extension(ctx.caller.clone()),
        Path(id.clone()),
    )
    .await;
    let (key, live) = match found {
        Ok(r) => {
            let key = JobKey::new(&r.0.tenant_id, &r.0.job_id);
            let live = ctx
                .daemon
                .job_state(&key)
                .running
                .filter(|x| x.run_id == r.0.id);
            (key, live)
        }
        Err(e) => match starting(&ctx, &id).await {
            Some((key, run)) => (key, Some(run)),
            None => return Err(e.into()),
        },
    };
    let Some(run) = live else {
        return Ok(Json(ProgressView {
            done: true,
            phase: "done".into(),
            read: 0,
            groups: 0,
            elapsed_s: 0.0,
            rate: None,
            expected: None,
            eta_s: None,
        })
        .into_response());
    };
    let elapsed = (chrono::Utc::now() - run.started_at)
        .num_milliseconds()
        .max(1) as f64
        / 1000.0;
    let read = run.progress.users();
    let phase = run.progress.phase();
    let rate = (read > 0).then(|| read as f64 / elapsed);
    let expected = ctx.daemon.dry_runs.last_read(&key);
    let eta = match (phase, rate, expected) {
        (crate::sync::progress::Phase::Reading, Some(rate), Some(e)) if e > read => {
            Some((e - read) as f64 / rate)
        }
        _ => None,
    };
    Ok(Json(ProgressView {
        done: false,
        phase: phase.as_str().into(),
        read,
        groups: run.progress.groups(),
        elapsed_s: elapsed,
        rate,
        expected,
        eta_s: eta,
    })
    .into_response())
}
