//! Users and groups: search (the API's `/users` and `/groups` with `q`), a
//! user's page (fields, groups, roles, licenses, the audit trail from
//! `/audit`), and deactivation by hand.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Form};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use super::layout::{badge, csrf, page, when_text};
use super::{see_other, seg, Ctx, Page, Shown};
use crate::daemon::api::directory::{self as api, DirectoryParams, UserPath};
use crate::daemon::api::runs::{audit, AuditParams};
use crate::daemon::api::ApiQuery;
use crate::store::UserRow;

#[derive(Deserialize, Default)]
pub struct Search {
    q: Option<String>,
    offset: Option<usize>,
}

fn user_link(u: &UserRow) -> String {
    format!("/console/users/{}/{}", seg(&u.tenant_id), seg(&u.username))
}

pub async fn list(ctx: Ctx, Query(s): Query<Search>) -> Page {
    let q = s.q.clone().unwrap_or_default();
    let params = |limit| DirectoryParams {
        q: Some(q.clone()),
        limit: Some(limit),
        offset: s.offset,
        ..Default::default()
    };
    let (d, c) = (ctx.daemon.clone(), ctx.caller.clone());
    let users = api::users(State(d.clone()), Extension(c.clone()), ApiQuery(params(50)))
        .await?
        .0;
    let groups = api::groups(State(d), Extension(c), ApiQuery(params(20)))
        .await?
        .0;
    Ok(page(
        &ctx,
        "Users and groups",
        "users",
        html! {
            form method="get" action="/console/users" class="search" role="search" {
                label for="q" { "Search users and groups" }
                input type="search" id="q" name="q" value=(q) placeholder="username, name or email";
                button type="submit" { "Search" }
            }
            h2 { "Users (" (users.total) ")" }
            @if users.users.is_empty() { p { "No users match." } } @else {
            div class="scroll" { table id="users" {
                thead { tr { th scope="col" { "Username" } th scope="col" { "Name" } th scope="col" { "Email" } th scope="col" { "Tenant" } th scope="col" { "Status" } } }
                tbody { @for u in &users.users {
                    tr {
                        td { a href=(user_link(u)) { (u.username) } }
                        td { (u.display_name.as_deref().unwrap_or("")) }
                        td { (u.email.as_deref().unwrap_or("")) }
                        td { (u.tenant_id) }
                        td { (badge(if u.active { "active" } else { "deactivated" })) }
                    }
                } }
            } } }
            @if let Some(o) = users.next_offset {
                nav class="pager" aria-label="Pages of users" { a rel="next" href={ "/console/users?q=" (seg(&q)) "&offset=" (o) } { "More users" } }
            }
            h2 { "Groups (" (groups.total) ")" }
            @if groups.groups.is_empty() { p { "No groups match." } } @else {
            div class="scroll" { table id="groups" {
                thead { tr { th scope="col" { "Group" } th scope="col" { "Members" } th scope="col" { "Tenant" } th scope="col" { "Job" } th scope="col" { "Status" } } }
                tbody { @for g in &groups.groups {
                    tr { td { (g.name) } td { (g.members) } td { (g.tenant_id) } td { (g.job_id) } td { (badge(if g.active { "active" } else { "deactivated" })) } }
                } }
            } } }
        },
    ))
}

/// The user `username` of `tenant`, through the API's listing (and its
/// tenant scope): 404 like the API for another tenant's names.
async fn find(ctx: &Ctx, tenant: &str, username: &str) -> Result<UserRow, Shown> {
    let page = api::users(
        State(ctx.daemon.clone()),
        Extension(ctx.caller.clone()),
        ApiQuery(DirectoryParams {
            tenant: Some(tenant.to_string()),
            q: Some(username.to_string()),
            limit: Some(1000),
            ..Default::default()
        }),
    )
    .await?
    .0;
    page.users
        .into_iter()
        .find(|u| u.username == username && u.tenant_id == tenant)
        .ok_or_else(|| {
            Shown::new(
                StatusCode::NOT_FOUND,
                format!("no user {username:?} in tenant {tenant:?}"),
            )
        })
}

fn changes(v: &Value) -> Markup {
    html! {
        @match v.as_array() {
            Some(list) => ul class="changes" { @for c in list {
                @if c.get("field").is_some() {
                    li { strong { (c["field"].as_str().unwrap_or("")) } ": "
                        span class="old" { (c["old"].as_str().unwrap_or("—")) } " → "
                        span class="new" { (c["new"].as_str().unwrap_or("—")) } }
                } @else { li { (c.to_string()) } }
            } },
            None => @match v.as_object() {
                Some(o) => ul class="changes" { @for (k, x) in o {
                    li { strong { (k.replace('_', " ")) } ": " (x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string())) }
                } },
                None => @if !v.is_null() { code { (v.to_string()) } },
            },
        }
    }
}

fn versions(v: &Value) -> String {
    match v {
        Value::Object(m) => m
            .values()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| x.to_string())
            })
            .collect::<Vec<_>>()
            .join("; "),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub async fn detail(ctx: Ctx, Path((tenant, username)): Path<(String, String)>) -> Page {
    let u = find(&ctx, &tenant, &username).await?;
    let trail = audit(
        State(ctx.daemon.clone()),
        Extension(ctx.caller.clone()),
        ApiQuery(AuditParams {
            tenant: Some(tenant.clone()),
            subject: Some(username.clone()),
            limit: Some(200),
            ..Default::default()
        }),
    )
    .await?
    .0;
    let fields = [
        ("Display name", &u.display_name),
        ("Given name", &u.given_name),
        ("Family name", &u.family_name),
        ("Email", &u.email),
        ("Phone", &u.phone),
        ("Job title", &u.job_title),
        ("Company", &u.company),
        ("Department", &u.department),
        ("Manager", &u.manager),
        ("Employee id", &u.employee_id),
    ];
    let list =
        |items: &Vec<String>| html! { @if items.is_empty() { "—" } @else { (items.join(", ")) } };
    Ok(page(
        &ctx,
        &format!("User {}", u.username),
        "users",
        html! {
            dl class="facts" id="user-facts" {
                dt { "Tenant" } dd { (u.tenant_id) }
                dt { "Status" } dd { (badge(if u.active { "active" } else { "deactivated" }))
                    @if let Some(r) = &u.deactivation_reason { " (" (r.replace('_', " ")) ")" } }
                dt { "Job" } dd { (u.job_id.as_deref().unwrap_or("— (local)")) }
                dt { "Source id" } dd { (u.source_id.as_deref().unwrap_or("—")) }
                @for (label, v) in fields { @if let Some(v) = v { dt { (label) } dd { (v) } } }
                dt { "Groups" } dd id="user-groups" { (list(&u.groups)) }
                dt { "Roles" } dd { (list(&u.roles)) }
                dt { "Licenses" } dd { (list(&u.licenses)) }
            }
            @let action = format!("/console/users/{}/{}/{}", seg(&u.tenant_id), seg(&u.username), if u.active { "deactivate" } else { "restore" });
            form method="post" action=(action) class="actions" {
                (csrf(&ctx))
                @if u.active {
                    button type="submit" class="danger" id="btn-deactivate" { "Deactivate by hand" }
                    span class="hint" { " A user still active in the source comes back on the next run: the source is authoritative." }
                } @else {
                    button type="submit" id="btn-restore" { "Restore by hand" }
                    span class="hint" { " The next run deactivates the user again if the source no longer has them in scope." }
                }
            }
            section aria-labelledby="audit-h" {
                h2 id="audit-h" { "Audit trail" }
                @if trail.events.is_empty() { p { "No changes recorded." } } @else {
                div class="scroll" { table id="audit" {
                    thead { tr { th scope="col" { "When" } th scope="col" { "Change" } th scope="col" { "Old → new" } th scope="col" { "Run" } th scope="col" { "Plugin versions" } } }
                    tbody { @for e in &trail.events {
                        tr {
                            td { (when_text(&e.at)) }
                            td { (e.category) " " (e.action) }
                            td { (changes(&e.changes)) }
                            td { @if let Some(r) = &e.run_id { a href={ "/console/runs/" (seg(r)) } { code { (r.get(..8).unwrap_or(r)) } } } }
                            td { (versions(&e.plugin_versions)) }
                        }
                    } }
                } } }
            }
        },
    ))
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

async fn by_hand(
    ctx: Ctx,
    tenant: String,
    username: String,
    csrf: &str,
    restore: bool,
) -> Result<Response, Shown> {
    ctx.check_csrf(csrf)?;
    let path = Path(UserPath {
        tenant: tenant.clone(),
        username: username.clone(),
    });
    let (d, c) = (State(ctx.daemon.clone()), Extension(ctx.caller.clone()));
    let done = if restore {
        api::restore(d, c, path).await
    } else {
        api::deactivate(d, c, path).await
    }?;
    let what = if done.0.active {
        "restored"
    } else {
        "deactivated"
    };
    ctx.flash(true, format!("{username} is {what}."));
    Ok(see_other(&format!(
        "/console/users/{}/{}",
        seg(&tenant),
        seg(&username)
    )))
}

/// Deactivate by hand: the API's `POST /tenants/{t}/users/{u}/deactivate`.
pub async fn deactivate(
    ctx: Ctx,
    Path((tenant, username)): Path<(String, String)>,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, Shown> {
    by_hand(ctx, tenant, username, &f.csrf, false).await
}

/// Restore by hand: the API's `POST /tenants/{t}/users/{u}/restore`.
pub async fn restore(
    ctx: Ctx,
    Path((tenant, username)): Path<(String, String)>,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, Shown> {
    by_hand(ctx, tenant, username, &f.csrf, true).await
}
