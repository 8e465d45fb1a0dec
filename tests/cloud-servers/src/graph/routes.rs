//! The fake Graph's HTTP side: token endpoint, users, groups, transitive
//! members, delta queries. Answers follow the shapes in the Graph v1.0
//! reference (collections in `value`, `@odata.nextLink` / `@odata.deltaLink`,
//! `@removed`, errors as `{"error": {"code", "message", "innerError"}}`).

use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query as Q, State as S};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde_json::{json, Map, Value};

use super::{GraphGroup, GraphUser, State, Tracked};
use crate::{header, json, link, Query};

type Shared = Arc<Mutex<State>>;

pub(super) fn router(state: Shared) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/v1.0/users", get(list_users))
        .route("/v1.0/users/delta", get(users_delta))
        .route("/v1.0/users/{id}", get(one_user))
        .route("/v1.0/groups", get(list_groups))
        .route("/v1.0/groups/delta", get(groups_delta))
        .route("/v1.0/groups/{id}", get(one_group))
        .route("/v1.0/groups/{id}/transitiveMembers", get(members))
        .route("/v1.0/groups/{id}/transitiveMembers/{cast}", get(members))
        .route(
            "/v1.0/groups/{id}/transitiveMemberOf/{cast}",
            get(member_of),
        )
        .with_state(state)
}

fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string();
    json(
        status,
        json!({ "error": { "code": code, "message": message, "innerError": {
            "date": now, "request-id": "00000000-0000-0000-0000-000000000000",
            "client-request-id": "00000000-0000-0000-0000-000000000000" } } }),
    )
}

/// Client-credentials grant (Microsoft identity platform v2.0 shape).
async fn token(
    S(state): S<Shared>,
    Path(tenant): Path<String>,
    Form(form): Form<Query>,
) -> Response {
    let mut s = state.lock().unwrap();
    s.token_requests += 1;
    let f = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    let aad = |status, error: &str, description: &str| {
        json(
            status,
            json!({ "error": error, "error_description": description,
            "error_codes": [], "timestamp": "2024-01-01 00:00:00Z", "trace_id": "t", "correlation_id": "c" }),
        )
    };
    if tenant != s.tenant {
        return aad(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "AADSTS90002: Tenant not found.",
        );
    }
    if f("grant_type") != "client_credentials" {
        return aad(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "AADSTS70003: unsupported grant type.",
        );
    }
    if f("client_id") != s.client_id {
        return aad(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "AADSTS700016: Application was not found in the directory.",
        );
    }
    if f("client_secret") != s.client_secret {
        return aad(StatusCode::UNAUTHORIZED, "invalid_client", "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.");
    }
    if !f("scope").ends_with("/.default") {
        return aad(StatusCode::BAD_REQUEST, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.");
    }
    let token = format!("graph-token-{}", s.tokens.len() + 1);
    s.tokens.push(token.clone());
    json(
        StatusCode::OK,
        json!({ "token_type": "Bearer", "expires_in": 3599,
        "ext_expires_in": 3599, "access_token": token }),
    )
}

/// Bearer token, throttling and permission checks shared by every Graph
/// call: `Some(answer)` when the request must be refused.
fn guard(s: &mut State, headers: &HeaderMap, path: &str, permission: &str) -> Option<Response> {
    s.requests.push(format!("GET {path}"));
    let token = header(headers, "authorization").and_then(|h| h.strip_prefix("Bearer "));
    if !token.is_some_and(|t| s.tokens.iter().any(|k| k == t)) {
        return Some(graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token is empty or invalid.",
        ));
    }
    if s.throttle.0 > 0 {
        s.throttle.0 -= 1;
        let mut r = graph_error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Too many requests. Please try again later.",
        );
        r.headers_mut()
            .insert("retry-after", s.throttle.1.to_string().parse().unwrap());
        return Some(r);
    }
    if !s.permissions.contains(permission) && !s.permissions.contains("Directory.Read.All") {
        return Some(graph_error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ));
    }
    None
}

fn user_json(u: &GraphUser, expand_manager: bool) -> Value {
    let mut v = json!({
        "id": u.id, "userPrincipalName": u.user_principal_name, "displayName": u.display_name,
        "givenName": u.given_name, "surname": u.surname, "mail": u.mail, "jobTitle": u.job_title,
        "department": u.department, "companyName": u.company_name, "mobilePhone": u.mobile_phone,
        "accountEnabled": u.account_enabled,
    });
    if expand_manager {
        v["manager"] = match &u.manager {
            Some(m) => json!({ "@odata.type": "#microsoft.graph.user", "id": m }),
            None => Value::Null,
        };
    }
    v
}

fn group_json(g: &GraphGroup) -> Value {
    json!({ "id": g.id, "displayName": g.display_name, "description": g.description,
        "securityEnabled": true, "mailEnabled": false, "groupTypes": [] })
}

/// Keep `id` and the `$select`ed properties (all when there is no `$select`).
fn select(mut v: Value, q: &Query) -> Value {
    if let (Some(sel), Value::Object(map)) = (q.get("$select"), &mut v) {
        let keep: Vec<&str> = sel.split(',').map(str::trim).collect();
        map.retain(|k, _| k == "id" || keep.contains(&k.as_str()) || k.contains("@delta"));
    }
    v
}

/// One page of `items` from `$skiptoken` (an offset), with a nextLink that
/// keeps the other query options.
fn page(s: &State, path: &str, q: &Query, items: Vec<Value>) -> Response {
    let size = q
        .get("$top")
        .and_then(|t| t.parse().ok())
        .unwrap_or(s.page_size)
        .min(s.page_size);
    let from: usize = q
        .get("$skiptoken")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let end = (from + size).min(items.len());
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(format!("{}/v1.0/$metadata#{path}", s.base)),
    );
    body.insert(
        "value".into(),
        Value::Array(items[from.min(end)..end].to_vec()),
    );
    if end < items.len() {
        let mut params: Vec<(&str, String)> = q
            .iter()
            .filter(|(k, _)| *k != "$skiptoken")
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        params.sort();
        params.push(("$skiptoken", end.to_string()));
        body.insert(
            "@odata.nextLink".into(),
            json!(link(&format!("{}/v1.0/{path}", s.base), &params)),
        );
    }
    json(StatusCode::OK, Value::Object(body))
}

async fn list_users(S(state): S<Shared>, headers: HeaderMap, Q(q): Q<Query>) -> Response {
    let mut s = state.lock().unwrap();
    if let Some(r) = guard(&mut s, &headers, "/v1.0/users", "User.Read.All") {
        return r;
    }
    let expand = q.get("$expand").is_some_and(|e| e.starts_with("manager"));
    let items = s
        .users
        .iter()
        .filter(|u| !u.removed)
        .map(|u| select(user_json(&u.obj, expand), &q))
        .collect();
    page(&s, "users", &q, items)
}

async fn one_user(
    S(state): S<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Q(q): Q<Query>,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Some(r) = guard(&mut s, &headers, "/v1.0/users/{id}", "User.Read.All") {
        return r;
    }
    let expand = q.get("$expand").is_some_and(|e| e.starts_with("manager"));
    match s.users.iter().find(|u| u.obj.id == id && !u.removed) {
        Some(u) => json(StatusCode::OK, select(user_json(&u.obj, expand), &q)),
        None => graph_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound",
            &format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present.")),
    }
}

async fn list_groups(S(state): S<Shared>, headers: HeaderMap, Q(q): Q<Query>) -> Response {
    let mut s = state.lock().unwrap();
    if let Some(r) = guard(&mut s, &headers, "/v1.0/groups", "Group.Read.All") {
        return r;
    }
    let items = s
        .groups
        .iter()
        .filter(|g| !g.removed)
        .map(|g| select(group_json(&g.obj), &q))
        .collect();
    page(&s, "groups", &q, items)
}

async fn one_group(
    S(state): S<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Q(q): Q<Query>,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Some(r) = guard(&mut s, &headers, "/v1.0/groups/{id}", "Group.Read.All") {
        return r;
    }
    match s.groups.iter().find(|g| g.obj.id == id && !g.removed) {
        Some(g) => json(StatusCode::OK, select(group_json(&g.obj), &q)),
        None => graph_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!("Resource '{id}' does not exist."),
        ),
    }
}

/// A delta round. Tokens are versions: `$deltatoken=V` returns what changed
/// after V; `$skiptoken=SINCE.UPTO.OFFSET` pages within one round.
fn delta<T>(
    s: &State,
    path: &str,
    q: &Query,
    objects: &[Tracked<T>],
    render: impl Fn(&T) -> Value,
) -> Response {
    let (since, upto, offset) = match (q.get("$skiptoken"), q.get("$deltatoken")) {
        (Some(skip), _) => {
            let p: Vec<u64> = skip.split('.').filter_map(|x| x.parse().ok()).collect();
            if p.len() != 3 {
                return graph_error(StatusCode::BAD_REQUEST, "BadRequest", "Invalid skip token.");
            }
            (Some(p[0]).filter(|v| *v > 0), p[1], p[2] as usize)
        }
        (None, Some(token)) => {
            match token.parse::<u64>() {
                Ok(v) if v <= s.version => (Some(v), s.version, 0),
                // Real Graph: 410 Gone when a token is too old or unknown.
                _ => return graph_error(
                    StatusCode::GONE,
                    "SyncStateNotFound",
                    "The sync state was not found or expired; restart with a full synchronization.",
                ),
            }
        }
        (None, None) => (None, s.version, 0),
    };
    let mut changed: Vec<&Tracked<T>> = objects
        .iter()
        .filter(|o| o.version <= upto)
        .filter(|o| match since {
            None => !o.removed,
            Some(v) => o.version > v,
        })
        .collect();
    changed.sort_by_key(|o| o.version);
    let items: Vec<Value> = changed
        .iter()
        .map(|o| {
            let v = render(&o.obj);
            if o.removed {
                json!({ "id": v["id"], "@removed": { "reason": "changed" } })
            } else {
                select(v, q)
            }
        })
        .collect();
    let end = (offset + s.page_size).min(items.len());
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(format!("{}/v1.0/$metadata#{path}", s.base)),
    );
    body.insert(
        "value".into(),
        Value::Array(items[offset.min(end)..end].to_vec()),
    );
    let base = format!("{}/v1.0/{path}/delta", s.base);
    if end < items.len() {
        let skip = format!("{}.{upto}.{end}", since.unwrap_or(0));
        body.insert(
            "@odata.nextLink".into(),
            json!(link(&base, &[("$skiptoken", skip)])),
        );
    } else {
        body.insert(
            "@odata.deltaLink".into(),
            json!(link(&base, &[("$deltatoken", upto.to_string())])),
        );
    }
    json(StatusCode::OK, Value::Object(body))
}

async fn users_delta(S(state): S<Shared>, headers: HeaderMap, Q(q): Q<Query>) -> Response {
    let mut s = state.lock().unwrap();
    if let Some(r) = guard(&mut s, &headers, "/v1.0/users/delta", "User.Read.All") {
        return r;
    }
    // Real Graph remembers $select inside its tokens; here every round
    // after the first is asked with only a token, so keep the full set.
    let with_manager = q.get("$select").is_none_or(|s| s.contains("manager"));
    delta(&s, "users", &q, &s.users, |u| {
        let mut v = user_json(u, false);
        if with_manager {
            if let Some(m) = &u.manager {
                v["manager@delta"] = json!([{ "@odata.type": "#microsoft.graph.user", "id": m }]);
            }
        }
        v
    })
}

async fn groups_delta(S(state): S<Shared>, headers: HeaderMap, Q(q): Q<Query>) -> Response {
    let mut s = state.lock().unwrap();
    if let Some(r) = guard(&mut s, &headers, "/v1.0/groups/delta", "Group.Read.All") {
        return r;
    }
    let users: Vec<String> = s.users.iter().map(|u| u.obj.id.clone()).collect();
    delta(&s, "groups", &q, &s.groups, |g| {
        let mut v = group_json(g);
        let members: Vec<Value> = g
            .members
            .iter()
            .map(|m| {
                let kind = if users.contains(m) {
                    "#microsoft.graph.user"
                } else {
                    "#microsoft.graph.group"
                };
                json!({ "@odata.type": kind, "id": m })
            })
            .collect();
        v["members@delta"] = Value::Array(members);
        v
    })
}

/// Every user (and nested group) below `id`, each once; cycles are safe.
fn transitive(s: &State, id: &str) -> Vec<String> {
    let (mut out, mut todo) = (Vec::new(), vec![id.to_string()]);
    while let Some(g) = todo.pop() {
        let Some(group) = s.groups.iter().find(|x| x.obj.id == g && !x.removed) else {
            continue;
        };
        for m in &group.obj.members {
            if !out.contains(m) && m != id {
                out.push(m.clone());
                todo.push(m.clone());
            }
        }
    }
    out
}

async fn members(
    S(state): S<Shared>,
    headers: HeaderMap,
    Path(params): Path<Vec<(String, String)>>,
    Q(q): Q<Query>,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Some(r) = guard(
        &mut s,
        &headers,
        "/v1.0/groups/{id}/transitiveMembers",
        "GroupMember.Read.All",
    ) {
        return r;
    }
    let id = params[0].1.clone();
    let only_users = params
        .get(1)
        .is_some_and(|(_, c)| c == "microsoft.graph.user");
    if !s.groups.iter().any(|g| g.obj.id == id && !g.removed) {
        return graph_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!("Resource '{id}' does not exist."),
        );
    }
    let mut items = Vec::new();
    for m in transitive(&s, &id) {
        if let Some(u) = s.users.iter().find(|u| u.obj.id == m && !u.removed) {
            let mut v = select(user_json(&u.obj, false), &q);
            v["@odata.type"] = json!("#microsoft.graph.user");
            items.push(v);
        } else if let (false, Some(g)) = (
            only_users,
            s.groups.iter().find(|g| g.obj.id == m && !g.removed),
        ) {
            let mut v = select(group_json(&g.obj), &q);
            v["@odata.type"] = json!("#microsoft.graph.group");
            items.push(v);
        }
    }
    page(&s, &format!("groups/{id}/transitiveMembers"), &q, items)
}

/// The groups that contain group `id`, directly or through others.
async fn member_of(
    S(state): S<Shared>,
    headers: HeaderMap,
    Path((id, _cast)): Path<(String, String)>,
    Q(q): Q<Query>,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Some(r) = guard(
        &mut s,
        &headers,
        "/v1.0/groups/{id}/transitiveMemberOf",
        "GroupMember.Read.All",
    ) {
        return r;
    }
    let items = s
        .groups
        .iter()
        .filter(|g| !g.removed && transitive(&s, &g.obj.id).contains(&id))
        .map(|g| {
            let mut v = select(group_json(&g.obj), &q);
            v["@odata.type"] = json!("#microsoft.graph.group");
            v
        })
        .collect();
    page(
        &s,
        &format!("groups/{id}/transitiveMemberOf/microsoft.graph.group"),
        &q,
        items,
    )
}
