//! The OpenAPI document, served at `/openapi.json`.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    agents, directory, health, jobs, plugins, preview, runs, tenant_jobs, tenant_plugins, tenants,
    verify, ErrorBody,
};
use crate::daemon::jobs::{LastRun, NextRun, Running, Trigger};
use crate::engine::{RunMode, RunOutcome};
use crate::store::{GroupRow, UserRow};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "usersync admin API",
        description = "The admin API of `usersync serve`. Send `Authorization: Bearer <token>` (server.token or USERSYNC_API_TOKEN) to every endpoint but /health and /openapi.json. Errors are `{\"error\": \"...\"}`. A job is identified by its tenant and id: `/tenants/{tenant}/jobs/{id}`; the short `/jobs/{id}` paths answer only while no other tenant has a job with that id (409 naming the tenants otherwise)."
    ),
    paths(
        health::health, health::metrics,
        jobs::list, jobs::list_tenant, jobs::get, jobs::run, jobs::test_connection,
        jobs::get_short, jobs::run_short, jobs::test_connection_short,
        runs::list, runs::list_job, runs::get, runs::audit,
        plugins::list, preview::preview,
        directory::users, directory::groups, directory::deactivate, directory::restore,
        verify::verify_password,
        tenants::list, tenants::get, tenants::create, tenants::update, tenants::delete,
        tenant_jobs::put, tenant_jobs::delete, tenant_plugins::put, tenant_plugins::delete,
        agents::enroll, agents::list, agents::revoke,
    ),
    components(schemas(
        ErrorBody, health::Health, health::HealthDetails,
        jobs::JobView, jobs::RunStarted, jobs::ConnectionTest, jobs::CheckView,
        Running, NextRun, LastRun, Trigger, RunOutcome, RunMode,
        runs::RunView, runs::RunsPage, runs::AuditEvent, runs::AuditPage,
        plugins::PluginsView, plugins::PluginView, plugins::RefusedFile,
        directory::UsersPage, directory::GroupsPage, directory::UserState, UserRow, GroupRow,
        verify::VerifyRequest, crate::sync::PasswordCheck,
        tenants::TenantView, tenants::NewTenant, tenants::TenantChange,
        tenant_jobs::JobDefinition, tenant_jobs::JobBody, tenant_plugins::UploadedPlugin,
        super::Deleted, agents::Enrollment, crate::store::AgentRow,
    )),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
