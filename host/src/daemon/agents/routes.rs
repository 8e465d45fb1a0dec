//! The endpoints agents call (`/agent/v1/...`), outside the admin API:
//! they take an agent credential, never an API token. Every body is
//! size-bounded; a credential reaches only its own tenant's runs (another
//! tenant's run answers the same 404 as a made-up one).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::hub::{AgentId, Refused, Taken};
use crate::agent::protocol::{
    Batch, EnrollAnswer, EnrollRequest, Finish, PollAnswer, PollRequest, MAX_JOBS,
    MAX_WAIT_SECONDS, PREFIX,
};
use crate::daemon::api::ApiError;
use crate::daemon::Daemon;

type AppState = Arc<Daemon>;

/// The largest enrol, poll or finish body.
const SMALL_BODY: usize = 64 * 1024;
/// Longest agent name, version or error text kept.
const MAX_TEXT: usize = 200;
const MAX_ERROR: usize = 2000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(&format!("{PREFIX}/enroll"), post(enroll))
        .route(&format!("{PREFIX}/work"), post(work))
        .route(
            &format!("{PREFIX}/plugins/{{sha256}}"),
            get(super::plugin::download),
        )
        .route(
            &format!("{PREFIX}/runs/{{run}}/batches/{{seq}}"),
            post(batch),
        )
        .route(&format!("{PREFIX}/runs/{{run}}/beat"), post(beat))
        .route(&format!("{PREFIX}/runs/{{run}}/finish"), post(finish))
        .layer(axum::extract::DefaultBodyLimit::disable())
}

pub fn hex_digest(secret: &str) -> String {
    hex::encode(crate::daemon::api::auth::digest(secret))
}

/// A random secret with a prefix saying what it is.
pub fn random_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the system's random source works");
    format!("{prefix}{}", hex::encode(bytes))
}

/// The agent a request's credential belongs to; refused (401) if unknown,
/// revoked, or its tenant is gone or disabled.
pub(super) async fn agent(d: &Daemon, headers: &HeaderMap) -> Result<AgentId, ApiError> {
    let refused = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "the agent credential is not valid (revoked, or never issued): enrol the agent again with a new code",
        )
    };
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(refused)?;
    let row = d
        .host
        .store
        .agent_by_token(&hex_digest(presented))
        .await?
        .ok_or_else(refused)?;
    if d.host.config().tenant(&row.tenant).is_none() {
        return Err(refused());
    }
    Ok(AgentId {
        id: row.id,
        name: row.name,
        tenant: row.tenant,
        allowed: row.allowed_jobs,
    })
}

/// A JSON body of at most `limit` bytes.
pub(super) async fn body<T: DeserializeOwned>(body: Body, limit: usize) -> Result<T, ApiError> {
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {limit} bytes"),
        )
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(format!("the body is not what this endpoint takes: {e}"))
    })
}

fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

async fn enroll(State(d): State<AppState>, req: Request) -> Result<Json<EnrollAnswer>, ApiError> {
    let req: EnrollRequest = body(req.into_body(), SMALL_BODY).await?;
    let Some((tenant, allowed)) = d
        .host
        .store
        .redeem_enrollment(&hex_digest(req.code.trim()))
        .await?
    else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "the enrolment code is not valid: it is used once and expires; ask the tenant's admin for a new one (`usersync agents enroll --tenant T`)",
        ));
    };
    let id = uuid::Uuid::new_v4().to_string();
    let credential = random_secret("usa_");
    let name = match clip(req.name.trim(), MAX_TEXT) {
        n if n.is_empty() => id.clone(),
        n => n,
    };
    d.host
        .store
        .create_agent(
            &id,
            &tenant,
            &name,
            &hex_digest(&credential),
            allowed.as_deref(),
        )
        .await?;
    tracing::info!(tenant = %tenant, agent = %id, name = %name, "an agent enrolled");
    Ok(Json(EnrollAnswer {
        agent_id: id,
        tenant,
        credential,
    }))
}

async fn work(State(d): State<AppState>, req: Request) -> Result<Json<PollAnswer>, ApiError> {
    let me = agent(&d, req.headers()).await?;
    let poll: PollRequest = body(req.into_body(), SMALL_BODY).await?;
    if poll.jobs.len() > MAX_JOBS || poll.wait_seconds > MAX_WAIT_SECONDS {
        return Err(ApiError::bad_request(format!(
            "a poll names at most {MAX_JOBS} jobs and waits at most {MAX_WAIT_SECONDS} s"
        )));
    }
    let store = &d.host.store;
    store
        .agent_seen(&me.id, &clip(&poll.version, MAX_TEXT), &poll.jobs)
        .await?;
    if let Some(e) = &poll.last_error {
        store.agent_error(&me.id, Some(&clip(e, MAX_ERROR))).await?;
    }
    d.metrics.agent_seen(&me.tenant, &me.name);
    if d.shutting_down() {
        return Ok(Json(PollAnswer { work: None }));
    }
    let wait = Duration::from_secs(poll.wait_seconds);
    let work = d.agents.poll(&me, &poll.jobs, wait).await;
    if let Some(w) = &work {
        tracing::info!(tenant = %me.tenant, job = %w.job, run = %w.run_id, agent = %me.name, "run handed to an agent");
    }
    Ok(Json(PollAnswer { work }))
}

fn refused(r: Refused, run: &str) -> ApiError {
    match r {
        Refused::NotFound => ApiError::not_found(format!(
            "no run {run} for this agent: it ended, was given up, or is not this agent's"
        )),
        Refused::Gap { expected } => ApiError::new(
            StatusCode::CONFLICT,
            format!("batches come in order: the next one for run {run} is {expected}"),
        ),
        Refused::Failed(e) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the run refused the batch and fails: {e}"),
        ),
    }
}

async fn batch(
    State(d): State<AppState>,
    Path((run, seq)): Path<(String, u64)>,
    req: Request,
) -> Result<Response, ApiError> {
    let me = agent(&d, req.headers()).await?;
    let limit = usize::try_from(d.host.config().server.agent_max_batch_kb)
        .unwrap_or(usize::MAX)
        .saturating_mul(1024);
    let is_json = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the batch as application/json",
        ));
    }
    let batch: Batch = body(req.into_body(), limit).await?;
    let taken = d
        .agents
        .batch(&me, &run, seq, batch.calls)
        .await
        .map_err(|r| refused(r, &run))?;
    Ok(
        Json(json!({ "run": run, "seq": seq, "duplicate": taken == Taken::Duplicate }))
            .into_response(),
    )
}

async fn beat(
    State(d): State<AppState>,
    Path(run): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let me = agent(&d, &headers).await?;
    d.agents.beat(&me, &run).map_err(|r| refused(r, &run))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn finish(
    State(d): State<AppState>,
    Path(run): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let me = agent(&d, req.headers()).await?;
    let fin: Finish = body(req.into_body(), SMALL_BODY).await?;
    if let crate::agent::protocol::ReadEnd::Failed { message } = &fin.outcome {
        let _ = d
            .host
            .store
            .agent_error(&me.id, Some(&clip(message, MAX_ERROR)))
            .await;
    }
    d.agents
        .finish(&me, &run, fin.batches, fin.outcome)
        .await
        .map_err(|r| refused(r, &run))?;
    Ok(Json(json!({ "run": run, "finished": true })).into_response())
}
