//! Licenses: per tenant the caller sees, seats per kind, seats used, and
//! users waiting (active users of a job that assigns the kind who hold no
//! seat of it).

use maud::html;

use super::layout::page;
use super::{Ctx, Page};

pub async fn list(ctx: Ctx) -> Page {
    let d = ctx.daemon.clone();
    let config = d.host.config();
    let mut rows = Vec::new();
    for t in config.tenants.iter().filter(|t| ctx.caller.sees(&t.id)) {
        if t.licenses.is_empty() {
            continue;
        }
        let used = d.host.store.seats_used(&t.id).await?;
        let users = d.host.store.users(Some(&t.id)).await?;
        for (kind, seats) in &t.licenses {
            let jobs: Vec<&str> = config
                .jobs
                .iter()
                .filter(|j| j.tenant == t.id && j.sync.license_kind.as_deref() == Some(kind))
                .map(|j| j.id.as_str())
                .collect();
            let waiting = users
                .iter()
                .filter(|u| {
                    u.active
                        && u.job_id.as_deref().is_some_and(|j| jobs.contains(&j))
                        && !u.licenses.contains(kind)
                })
                .count();
            let n = used.get(kind).copied().unwrap_or(0);
            rows.push((t.id.clone(), kind.clone(), *seats, n, waiting));
        }
    }
    Ok(page(
        &ctx,
        "Licenses",
        "licenses",
        html! {
            @if rows.is_empty() { p { "No tenant has license seats configured." } } @else {
            div class="scroll" { table id="licenses" {
                thead { tr { th scope="col" { "Tenant" } th scope="col" { "Kind" } th scope="col" { "Seats" } th scope="col" { "Used" } th scope="col" { "Free" } th scope="col" { "Waiting users" } } }
                tbody { @for (tenant, kind, seats, used, waiting) in &rows {
                    tr {
                        td { (tenant) } td { (kind) } td { (seats) } td { (used) }
                        td { (seats.saturating_sub(*used)) }
                        td { (waiting) }
                    }
                } }
            } } }
            p class="hint" { "Seats are set per tenant under [tenants.licenses]; a job assigns its kind with sync.license_kind. Waiting: active users of such a job without a seat (sync.license_policy decides whether they are synced without one)." }
        },
    ))
}
