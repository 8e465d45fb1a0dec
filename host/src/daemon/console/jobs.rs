//! Jobs: the list, a job's page (status, schedule in words, run now, dry
//! run, full run, test connection, recent runs, its definition), edits of
//! jobs made through the API. Every action calls the `/api` handler.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::{Extension, Form};
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{badge, csrf, page, schedule_words, when};
use super::{see_other, seg, Ctx, Page, Shown};
use crate::daemon::api::jobs::{self as api, JobPath, JobView, RunParams};
use crate::daemon::api::runs::{list_job, PageParams};
use crate::daemon::api::{tenant_jobs, ApiQuery};
use crate::engine::RunOutcome;
use crate::secret::sealed_job;

pub fn job_link(tenant: &str, id: &str) -> String {
    format!("/console/jobs/{}/{}", seg(tenant), seg(id))
}

fn path(tenant: String, id: String) -> Path<JobPath> {
    Path(JobPath {
        tenant: Some(tenant),
        id,
    })
}

fn last_run_cell(j: &JobView) -> Markup {
    html! {
        @match &j.last_run {
            Some(l) => {
                (badge(if l.dry_run && l.outcome == RunOutcome::Succeeded { "dry run" } else { l.outcome.as_str() }))
                " " (when(&l.finished_at))
                @if let Some(id) = &l.run_id { " " a href={ "/console/runs/" (id) } { "details" span class="sr-only" { " of the last run of " (j.id) } } }
            }
            None => "never",
        }
    }
}

pub async fn list(ctx: Ctx) -> Page {
    let jobs = api::list(State(ctx.daemon.clone()), Extension(ctx.caller.clone()))
        .await?
        .0;
    Ok(page(
        &ctx,
        "Jobs",
        "jobs",
        html! {
            @if jobs.is_empty() { p { "No jobs." } } @else {
            div class="scroll" {
                table id="jobs" {
                    thead { tr {
                        th scope="col" { "Job" } th scope="col" { "Tenant" } th scope="col" { "Status" }
                        th scope="col" { "Schedule" } th scope="col" { "Last run" } th scope="col" { "Next run" }
                    } }
                    tbody {
                        @for j in &jobs {
                            tr {
                                td { a href=(job_link(&j.tenant, &j.id)) { (j.id) } }
                                td { (j.tenant) }
                                td { (badge(&j.status)) }
                                td { (schedule_words(j.schedule.as_deref(), j.interval_seconds)) }
                                td { (last_run_cell(j)) }
                                td { @match &j.next_run { Some(n) => (when(&n.at)), None => "—" } }
                            }
                        }
                    }
                }
            } }
        },
    ))
}

pub async fn detail(ctx: Ctx, Path((tenant, id)): Path<(String, String)>) -> Page {
    let d = ctx.daemon.clone();
    let j = api::get(
        State(d.clone()),
        Extension(ctx.caller.clone()),
        path(tenant.clone(), id.clone()),
    )
    .await?
    .0;
    let runs = list_job(
        State(d.clone()),
        Extension(ctx.caller.clone()),
        path(tenant.clone(), id.clone()),
        ApiQuery(PageParams {
            limit: Some(10),
            offset: None,
        }),
    )
    .await?
    .0;
    let base = job_link(&tenant, &id);
    let (definition, read_only) = definition(&ctx, &tenant, &id);
    Ok(page(
        &ctx,
        &format!("Job {id}"),
        "jobs",
        html! {
            dl class="facts" {
                dt { "Tenant" } dd { (j.tenant) }
                dt { "Status" } dd id="job-status" { (badge(&j.status)) }
                dt { "Connector" } dd { (j.connector) }
                dt { "Mappers" } dd { @if j.mappers.is_empty() { "—" } @else { (j.mappers.join(" → ")) } }
                dt { "Schedule" } dd id="schedule" {
                    (schedule_words(j.schedule.as_deref(), j.interval_seconds))
                    @if let Some(c) = &j.schedule { " " code { "(" (c) ")" } }
                }
                dt { "Last run" } dd { (last_run_cell(&j)) }
                dt { "Next run" } dd { @match &j.next_run { Some(n) => { (when(&n.at)) " (" (n.trigger) ")" }, None => "—" } }
                @if j.consecutive_failures > 0 {
                    dt { "Failures in a row" } dd { (j.consecutive_failures) " of " (j.retry_attempts) " retries" }
                }
            }
            section aria-labelledby="act-h" {
                h2 id="act-h" { "Run" }
                div class="actions" {
                    @for (mode, label, hint) in [("run", "Run now", "apply the changes"), ("dry", "Dry run", "show what would change, change nothing"), ("full", "Full run", "read everything, apply")] {
                        form method="post" action={ (base) "/run" } {
                            (csrf(&ctx))
                            input type="hidden" name="mode" value=(mode);
                            button type="submit" id={ "btn-" (mode) } title=(hint) { (label) }
                        }
                    }
                    @if j.last_run.as_ref().is_some_and(|l| l.outcome == RunOutcome::StoppedByThreshold) {
                        form method="post" action={ (base) "/run" } {
                            (csrf(&ctx))
                            input type="hidden" name="mode" value="confirm";
                            button type="submit" id="btn-confirm" class="danger" title="the last run stopped at the deletion threshold; apply its deactivations" { "Run, confirming deletions" }
                        }
                    }
                    form method="post" action={ (base) "/test" } {
                        (csrf(&ctx))
                        button type="submit" id="btn-test" class="secondary" { "Test connection" }
                    }
                }
            }
            section aria-labelledby="runs-h" {
                h2 id="runs-h" { "Recent runs" }
                (super::runs::table(&runs.runs))
                p { a href={ "/console/runs?tenant=" (seg(&tenant)) "&job=" (seg(&id)) } { "All runs of this job" } }
            }
            section aria-labelledby="def-h" {
                h2 id="def-h" { "Definition" }
                @match &read_only {
                    Some(why) => { p class="hint" id="read-only" { (why) } }
                    None => { p class="hint" { "This job was made through the API and is stored in the store's managed jobs (every node serves it). Edit its keys as JSON: schedule, sync filters, mapping and options; secrets show as \"(set)\" and are kept when sent back. Saving checks it like the config file; errors name the key." } }
                }
                form method="post" action={ (base) "/edit" } {
                    (csrf(&ctx))
                    label for="job-json" { "Job keys (JSON)" }
                    textarea id="job-json" name="job" rows="16" spellcheck="false" disabled[read_only.is_some()] { (definition) }
                    button type="submit" id="btn-save" disabled[read_only.is_some()] { "Save" }
                }
            }
        },
    ))
}

/// The job's keys as JSON with secrets redacted, and why it cannot be
/// edited here (a job of the config file), if so.
fn definition(ctx: &Ctx, tenant: &str, id: &str) -> (String, Option<String>) {
    let d = &ctx.daemon;
    let key = crate::config::JobKey::new(tenant, id);
    if d.file_config().job_by_key(&key).is_some() {
        return (
            "(defined in the config file)".into(),
            Some(format!(
                "Read-only here: this job is defined in the config file {}, which stays the source of truth; edit the file and the daemon reloads it.",
                d.config_path.display()
            )),
        );
    }
    let managed = d.managed();
    match managed
        .jobs
        .iter()
        .find(|j| j.tenant == tenant && j.id == id)
    {
        Some(j) => {
            let v = serde_json::from_str(&j.body).unwrap_or_default();
            let shown = sealed_job::redact(&v);
            (
                serde_json::to_string_pretty(&shown).unwrap_or_default(),
                None,
            )
        }
        None => (
            "{}".into(),
            Some("Not found among the jobs made through the API.".into()),
        ),
    }
}

#[derive(Deserialize)]
pub struct RunForm {
    csrf: String,
    mode: String,
}

pub async fn run(
    ctx: Ctx,
    Path((tenant, id)): Path<(String, String)>,
    Form(f): Form<RunForm>,
) -> Result<Response, Shown> {
    ctx.check_csrf(&f.csrf)?;
    let params = RunParams {
        dry_run: Some(f.mode == "dry"),
        full: Some(f.mode == "full"),
        confirm_deletions: Some(f.mode == "confirm"),
    };
    let started = api::run(
        State(ctx.daemon.clone()),
        Extension(ctx.caller.clone()),
        path(tenant.clone(), id.clone()),
        ApiQuery(params),
    )
    .await;
    match started {
        Ok((_, r)) => {
            let what = if f.mode == "dry" { "Dry run" } else { "Run" };
            ctx.flash(true, format!("{what} {} started.", r.0.run_id));
            Ok(see_other(&format!("/console/runs/{}", seg(&r.0.run_id))))
        }
        Err(e) if e.status() == axum::http::StatusCode::NOT_FOUND => Err(e.into()),
        Err(e) => {
            ctx.flash(false, e.message());
            Ok(see_other(&job_link(&tenant, &id)))
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

pub async fn test(
    ctx: Ctx,
    Path((tenant, id)): Path<(String, String)>,
    Form(f): Form<CsrfOnly>,
) -> Page {
    ctx.check_csrf(&f.csrf)?;
    let result = api::test_connection(
        State(ctx.daemon.clone()),
        Extension(ctx.caller.clone()),
        path(tenant.clone(), id.clone()),
    )
    .await;
    let body = match result {
        Ok(t) => {
            let t = t.0;
            html! {
                p class={ "flash " (if t.ok { "good" } else { "bad" }) } id="test-verdict" role="status" {
                    @if t.ok { "The connection works." } @else { "The connection test failed." }
                }
                ol class="checks" id="checks" {
                    @for c in &t.checks {
                        li class={ "check " (c.status) } {
                            span class="mark" aria-hidden="true" { @match c.status.as_str() { "ok" => "✓", "failed" => "✗", "warning" => "!", _ => "–" } }
                            strong { (c.stage) } " " (badge(&c.status))
                            @if !c.detail.is_empty() { div class="detail" { (c.detail) } }
                        }
                    }
                }
            }
        }
        Err(e) if e.status() == axum::http::StatusCode::NOT_FOUND => return Err(e.into()),
        Err(e) => html! { p class="flash bad" role="alert" id="test-verdict" { (e.message()) } },
    };
    Ok(page(
        &ctx,
        &format!("Test connection: {id}"),
        "jobs",
        html! {
            (body)
            p { a href=(job_link(&tenant, &id)) { "Back to job " (id) } }
        },
    ))
}

#[derive(Deserialize)]
pub struct EditForm {
    csrf: String,
    job: String,
}

pub async fn edit(
    ctx: Ctx,
    Path((tenant, id)): Path<(String, String)>,
    Form(f): Form<EditForm>,
) -> Result<Response, Shown> {
    ctx.check_csrf(&f.csrf)?;
    let saved = tenant_jobs::put(
        State(ctx.daemon.clone()),
        Extension(ctx.caller.clone()),
        path(tenant.clone(), id.clone()),
        Bytes::from(f.job.into_bytes()),
    )
    .await;
    match saved {
        Ok(_) => ctx.flash(true, "Saved; the job now runs with these keys."),
        Err(e) if e.status() == axum::http::StatusCode::NOT_FOUND => return Err(e.into()),
        Err(e) => ctx.flash(false, format!("Not saved: {}", e.message())),
    }
    Ok(see_other(&job_link(&tenant, &id)))
}
