//! Plugins: what is served per tenant, refused files with reasons, upload
//! of a tenant's plugin (the API's `PUT /tenants/{t}/plugins/{name}`:
//! validated, stored, hot-swapped) and the mapper preview (the API's
//! `POST /tenants/{t}/jobs/{id}/preview`: a dry run with a candidate).

use axum::body::Bytes;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use maud::html;

use super::layout::{csrf, page, when};
use super::{see_other, seg, Ctx, Page, Shown};
use crate::daemon::api::jobs::{self as jobs_api, JobPath};
use crate::daemon::api::plugins as api;
use crate::daemon::api::tenant_plugins::{self, PluginPath};

pub async fn list(ctx: Ctx) -> Page {
    let (d, c) = (ctx.daemon.clone(), ctx.caller.clone());
    let view = api::list(State(d.clone()), Extension(c.clone())).await?.0;
    let jobs = jobs_api::list(State(d.clone()), Extension(c.clone()))
        .await?
        .0;
    let config = d.host.config();
    let tenants: Vec<&str> = config
        .tenants
        .iter()
        .map(|t| t.id.as_str())
        .filter(|t| c.sees(t))
        .collect();
    Ok(page(
        &ctx,
        "Plugins",
        "plugins",
        html! {
            div class="scroll" { table id="plugins" {
                thead { tr { th scope="col" { "Plugin" } th scope="col" { "Version" } th scope="col" { "Kind" } th scope="col" { "Served to" } th scope="col" { "Origin" } th scope="col" { "Signature" } th scope="col" { "Loaded" } } }
                tbody { @for p in &view.plugins {
                    tr {
                        td { (p.name) @if let Some(e) = &p.last_error { div class="detail bad" { "A newer file was refused: " (e) } } }
                        td { (p.version) }
                        td { (p.kind) }
                        td { @match &p.tenant { Some(t) => { "tenant " (t) }, None => "every tenant" } }
                        td { (p.origin) }
                        td { (p.signature) }
                        td { (when(&p.loaded_at)) }
                    }
                } }
            } }
            h2 { "Refused files" }
            @if view.refused.is_empty() { p id="refused-none" { "None." } } @else {
                ul id="refused" { @for r in &view.refused {
                    li { code { (r.path) } ": " (r.reason)
                        @if let Some(s) = &r.still_serving { " (still serving " (s) ")" } }
                } }
            }
            @if !tenants.is_empty() {
                section aria-labelledby="up-h" class="card" {
                    h2 id="up-h" { "Upload a plugin for a tenant" }
                    p class="hint" { "The file is checked like one in the plugins folder (signature rule, validation, compile, manifest). A refused file changes nothing; a good one is stored and every node hot-swaps it for that tenant." }
                    form method="post" action="/console/plugins/upload" enctype="multipart/form-data" {
                        (csrf(&ctx))
                        label for="up-tenant" { "Tenant" }
                        select id="up-tenant" name="tenant" { @for t in &tenants { option value=(t) { (t) } } }
                        label for="up-name" { "Plugin name (its manifest name; empty: the file's name)" }
                        input id="up-name" name="name";
                        label for="up-file" { "The .wasm file" }
                        input type="file" id="up-file" name="file" accept=".wasm,application/wasm" required;
                        button type="submit" id="btn-upload" { "Upload" }
                    }
                }
            }
            @if !jobs.is_empty() {
                section aria-labelledby="pv-h" class="card" {
                    h2 id="pv-h" { "Preview a candidate mapper" }
                    p class="hint" { "Runs the job as a full dry run with the candidate in place of the served mapper of its name and shows what would change. Nothing is applied and the candidate is not installed." }
                    form method="post" action="/console/plugins/preview" enctype="multipart/form-data" {
                        (csrf(&ctx))
                        label for="pv-job" { "Job" }
                        select id="pv-job" name="job" { @for j in &jobs { option value={ (j.tenant) "/" (j.id) } { (j.tenant) "/" (j.id) } } }
                        label for="pv-file" { "Candidate mapper (.wasm)" }
                        input type="file" id="pv-file" name="file" accept=".wasm,application/wasm" required;
                        button type="submit" id="btn-preview" { "Preview" }
                    }
                }
            }
        },
    ))
}

/// The fields of a multipart form: text fields, and the file's name and bytes.
#[derive(Default)]
struct Fields {
    csrf: String,
    tenant: String,
    name: String,
    job: String,
    file_name: String,
    file: Bytes,
}

async fn fields(mut m: Multipart) -> Result<Fields, Shown> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        Shown::new(
            StatusCode::BAD_REQUEST,
            format!("the form could not be read: {e}"),
        )
    };
    let mut f = Fields::default();
    while let Some(field) = m.next_field().await.map_err(bad)? {
        match field.name().unwrap_or("") {
            "file" => {
                f.file_name = field.file_name().unwrap_or("").to_string();
                f.file = field.bytes().await.map_err(bad)?;
            }
            name => {
                let name = name.to_string();
                let text = field.text().await.map_err(bad)?;
                match name.as_str() {
                    "csrf" => f.csrf = text,
                    "tenant" => f.tenant = text,
                    "name" => f.name = text.trim().to_string(),
                    "job" => f.job = text,
                    _ => {}
                }
            }
        }
    }
    Ok(f)
}

pub async fn upload(ctx: Ctx, m: Multipart) -> Result<Response, Shown> {
    let f = fields(m).await?;
    ctx.check_csrf(&f.csrf)?;
    let name = if f.name.is_empty() {
        f.file_name.trim_end_matches(".wasm").to_string()
    } else {
        f.name.clone()
    };
    let done = tenant_plugins::put(
        State(ctx.daemon.clone()),
        Extension(ctx.caller.clone()),
        Path(PluginPath {
            tenant: f.tenant.clone(),
            name,
        }),
        f.file,
    )
    .await;
    match done {
        Ok(p) => ctx.flash(
            true,
            format!(
                "Accepted: {} {} ({}) for tenant {}; it is served as soon as the plugins folder is swapped (a moment).",
                p.0.name, p.0.version, p.0.kind, p.0.tenant
            ),
        ),
        Err(e) if e.status() == StatusCode::NOT_FOUND => return Err(e.into()),
        Err(e) => ctx.flash(false, e.message()),
    }
    Ok(see_other("/console/plugins"))
}

pub async fn preview(ctx: Ctx, m: Multipart) -> Result<Response, Shown> {
    let f = fields(m).await?;
    ctx.check_csrf(&f.csrf)?;
    let (tenant, id) = f.job.split_once('/').unwrap_or(("", &f.job));
    let report = jobs_preview(&ctx, tenant, id, f.file).await;
    match report {
        Ok(r) => {
            let run_id = r["run"]["id"].as_str().unwrap_or("").to_string();
            ctx.daemon.dry_runs.keep_value(&run_id, id, &r["plan"]);
            ctx.flash(true, "Preview of the candidate mapper: a dry run, nothing was changed and the candidate was not installed.");
            Ok(see_other(&format!("/console/runs/{}", seg(&run_id))))
        }
        Err(e) if e.status() == StatusCode::NOT_FOUND => Err(e.into()),
        Err(e) => {
            ctx.flash(false, format!("The preview failed: {}", e.message()));
            Ok(see_other("/console/plugins"))
        }
    }
}

async fn jobs_preview(
    ctx: &Ctx,
    tenant: &str,
    id: &str,
    body: Bytes,
) -> Result<serde_json::Value, crate::daemon::api::ApiError> {
    crate::daemon::api::preview::preview(
        State(ctx.daemon.clone()),
        Extension(ctx.caller.clone()),
        Path(JobPath {
            tenant: Some(tenant.to_string()),
            id: id.to_string(),
        }),
        body,
    )
    .await
    .map(|j| j.0)
}
