//! A fake Okta management API (`/api/v1`): users with status and profile,
//! groups, group members, app group assignments; `Link` header paging with
//! `after` cursors, `search` / `filter` on `lastUpdated`, SSWS API tokens,
//! `X-Rate-Limit-*` headers and 429 answers, error bodies with `errorCode`.

use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Path, Query as Q, State as S};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::tls::{self, Running};
use crate::{header, json, link, Query};

#[derive(Debug, Clone)]
pub struct OktaUser {
    pub id: String,
    /// ACTIVE, STAGED, PROVISIONED, SUSPENDED, DEPROVISIONED, ...
    pub status: String,
    pub login: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub title: Option<String>,
    pub department: Option<String>,
    pub mobile_phone: Option<String>,
    pub manager_id: Option<String>,
    pub last_updated: DateTime<Utc>,
}

impl OktaUser {
    /// An ACTIVE user whose login and email are `login`.
    pub fn new(id: &str, login: &str, first: &str, last: &str) -> OktaUser {
        OktaUser {
            id: id.into(),
            status: "ACTIVE".into(),
            login: login.into(),
            email: login.into(),
            first_name: first.into(),
            last_name: last.into(),
            title: None,
            department: None,
            mobile_phone: None,
            manager_id: None,
            last_updated: Utc::now(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct OktaGroup {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub members: Vec<String>,
    pub last_updated: DateTime<Utc>,
    pub last_membership_updated: DateTime<Utc>,
}

impl OktaGroup {
    pub fn new(id: &str, name: &str, members: &[&str]) -> OktaGroup {
        OktaGroup {
            id: id.into(),
            name: name.into(),
            description: None,
            members: members.iter().map(|m| m.to_string()).collect(),
            last_updated: Utc::now(),
            last_membership_updated: Utc::now(),
        }
    }
}

struct State {
    base: String,
    token: String,
    users: Vec<OktaUser>,
    groups: Vec<OktaGroup>,
    /// app id -> assigned group ids
    apps: Vec<(String, Vec<String>)>,
    page_size: usize,
    /// The next this many requests answer 429; the limit resets after this many seconds.
    throttle: (usize, u64),
    remaining: u32,
    requests: Vec<String>,
}

/// The fake; stops when dropped.
pub struct OktaServer {
    state: Arc<Mutex<State>>,
    _running: Running,
}

const LIMIT: u32 = 600;

fn ts(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

impl OktaServer {
    /// A server that accepts API token `okta-api-token`, with pages of 2.
    pub fn start() -> OktaServer {
        let state = Arc::new(Mutex::new(State {
            base: String::new(),
            token: "okta-api-token".into(),
            users: Vec::new(),
            groups: Vec::new(),
            apps: Vec::new(),
            page_size: 2,
            throttle: (0, 0),
            remaining: LIMIT,
            requests: Vec::new(),
        }));
        let router = Router::new()
            .route("/api/v1/users", get(users))
            .route("/api/v1/groups", get(groups))
            .route("/api/v1/groups/{id}/users", get(group_users))
            .route("/api/v1/apps/{id}/groups", get(app_groups))
            .with_state(state.clone());
        let running = tls::serve(router);
        state.lock().unwrap().base = format!("https://127.0.0.1:{}", running.addr.port());
        OktaServer {
            state,
            _running: running,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// `https://127.0.0.1:PORT`: the "Okta domain".
    pub fn origin(&self) -> String {
        self.state().base.clone()
    }
    pub fn token(&self) -> String {
        self.state().token.clone()
    }

    pub fn add_user(&self, user: OktaUser) {
        self.state().users.push(user);
    }

    /// Change a user; its `lastUpdated` moves to now.
    pub fn update_user(&self, id: &str, change: impl FnOnce(&mut OktaUser)) {
        let mut s = self.state();
        let u = s
            .users
            .iter_mut()
            .find(|u| u.id == id)
            .expect("no such user");
        change(u);
        u.last_updated = Utc::now();
    }

    /// Delete a user (Okta deletes only deprovisioned users; gone from every list).
    pub fn delete_user(&self, id: &str) {
        let mut s = self.state();
        s.users.retain(|u| u.id != id);
        for g in &mut s.groups {
            if g.members.iter().any(|m| m == id) {
                g.members.retain(|m| m != id);
                g.last_membership_updated = Utc::now();
            }
        }
    }

    pub fn add_group(&self, group: OktaGroup) {
        self.state().groups.push(group);
    }

    pub fn set_members(&self, group: &str, members: &[&str]) {
        let mut s = self.state();
        let g = s
            .groups
            .iter_mut()
            .find(|g| g.id == group)
            .expect("no such group");
        g.members = members.iter().map(|m| m.to_string()).collect();
        g.last_membership_updated = Utc::now();
    }

    /// Assign groups to an app (the app's "group assignments").
    pub fn assign(&self, app: &str, groups: &[&str]) {
        self.state()
            .apps
            .push((app.into(), groups.iter().map(|g| g.to_string()).collect()));
    }

    /// The next `count` requests answer 429; the window resets in `secs`.
    pub fn throttle(&self, count: usize, secs: u64) {
        self.state().throttle = (count, secs);
    }

    pub fn requests(&self) -> Vec<String> {
        self.state().requests.clone()
    }
}

fn okta_error(status: StatusCode, code: &str, summary: &str) -> Response {
    json(
        status,
        json!({ "errorCode": code, "errorSummary": summary, "errorLink": code,
            "errorId": "oae0000000000000000", "errorCauses": [] }),
    )
}

/// SSWS token and throttling: `Some(answer)` when the request is refused.
fn guard(s: &mut State, headers: &HeaderMap, what: String) -> Option<Response> {
    s.requests.push(what);
    let ok =
        header(headers, "authorization").and_then(|h| h.strip_prefix("SSWS ")) == Some(&s.token);
    if !ok {
        return Some(okta_error(
            StatusCode::UNAUTHORIZED,
            "E0000011",
            "Invalid token provided",
        ));
    }
    if s.throttle.0 > 0 {
        s.throttle.0 -= 1;
        let mut r = okta_error(
            StatusCode::TOO_MANY_REQUESTS,
            "E0000047",
            "API call exceeded rate limit due to too many requests.",
        );
        rate_headers(&mut r, 0, Utc::now().timestamp() as u64 + s.throttle.1);
        return Some(r);
    }
    s.remaining = s.remaining.saturating_sub(1).max(1);
    None
}

fn rate_headers(r: &mut Response, remaining: u32, reset: u64) {
    let h = r.headers_mut();
    h.insert("x-rate-limit-limit", LIMIT.into());
    h.insert("x-rate-limit-remaining", remaining.into());
    h.insert("x-rate-limit-reset", reset.into());
}

/// A page of `items` after the `after` cursor (the last id of the previous
/// page), with `Link` headers for `self` and `next`, as Okta sends them.
fn page(s: &State, path: &str, q: &Query, items: Vec<(String, Value)>) -> Response {
    let limit = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(s.page_size)
        .min(s.page_size);
    let start = match q.get("after") {
        Some(after) => items
            .iter()
            .position(|(id, _)| id == after)
            .map_or(items.len(), |i| i + 1),
        None => 0,
    };
    let end = (start + limit).min(items.len());
    let body: Vec<Value> = items[start..end].iter().map(|(_, v)| v.clone()).collect();
    let mut r = json(StatusCode::OK, Value::Array(body));
    let mut params: Vec<(&str, String)> = q
        .iter()
        .filter(|(k, _)| *k != "after")
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    params.sort();
    let base = format!("{}{path}", s.base);
    let h = r.headers_mut();
    h.append(
        "link",
        format!("<{}>; rel=\"self\"", link(&base, &params))
            .parse()
            .unwrap(),
    );
    if end < items.len() {
        params.push(("after", items[end - 1].0.clone()));
        h.append(
            "link",
            format!("<{}>; rel=\"next\"", link(&base, &params))
                .parse()
                .unwrap(),
        );
    }
    let reset = (Utc::now().timestamp() as u64 / 60 + 1) * 60;
    rate_headers(&mut r, s.remaining, reset);
    r
}

fn user_json(base: &str, u: &OktaUser) -> Value {
    json!({
        "id": u.id, "status": u.status, "created": ts(&u.last_updated), "activated": null,
        "statusChanged": ts(&u.last_updated), "lastLogin": null, "lastUpdated": ts(&u.last_updated),
        "passwordChanged": null, "type": { "id": "otyfakeusertype" },
        "profile": { "login": u.login, "email": u.email, "firstName": u.first_name,
            "lastName": u.last_name, "title": u.title, "department": u.department,
            "mobilePhone": u.mobile_phone, "managerId": u.manager_id, "secondEmail": null },
        "credentials": { "provider": { "type": "OKTA", "name": "OKTA" } },
        "_links": { "self": { "href": format!("{base}/api/v1/users/{}", u.id) } },
    })
}

fn group_json(base: &str, g: &OktaGroup) -> Value {
    json!({
        "id": g.id, "created": ts(&g.last_updated), "lastUpdated": ts(&g.last_updated),
        "lastMembershipUpdated": ts(&g.last_membership_updated),
        "objectClass": ["okta:user_group"], "type": "OKTA_GROUP",
        "profile": { "name": g.name, "description": g.description },
        "_links": { "users": { "href": format!("{base}/api/v1/groups/{}/users", g.id) } },
    })
}

/// `FIELD gt "TIMESTAMP"` from a search or filter expression.
fn after(expr: &str, field: &str) -> Option<DateTime<Utc>> {
    let rest = &expr[expr.find(&format!("{field} gt \""))? + field.len() + 5..];
    let value = &rest[..rest.find('"')?];
    DateTime::parse_from_rfc3339(value)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

async fn users(S(state): S<Shared>, headers: HeaderMap, Q(q): Q<Query>) -> Response {
    let mut s = state.lock().unwrap();
    if let Some(r) = guard(&mut s, &headers, "GET /api/v1/users".into()) {
        return r;
    }
    let expr = q.get("search").or(q.get("filter")).cloned();
    let since = expr.as_deref().and_then(|e| after(e, "lastUpdated"));
    if expr.is_some() && since.is_none() {
        return okta_error(
            StatusCode::BAD_REQUEST,
            "E0000031",
            "Invalid search criteria.",
        );
    }
    let items = s
        .users
        .iter()
        // Without a search, Okta leaves DEPROVISIONED users out.
        .filter(|u| match since {
            Some(t) => u.last_updated > t,
            None => u.status != "DEPROVISIONED",
        })
        .map(|u| (u.id.clone(), user_json(&s.base, u)))
        .collect();
    page(&s, "/api/v1/users", &q, items)
}

async fn groups(S(state): S<Shared>, headers: HeaderMap, Q(q): Q<Query>) -> Response {
    let mut s = state.lock().unwrap();
    if let Some(r) = guard(&mut s, &headers, "GET /api/v1/groups".into()) {
        return r;
    }
    let filter = q.get("filter").cloned().unwrap_or_default();
    let (updated, members) = (
        after(&filter, "lastUpdated"),
        after(&filter, "lastMembershipUpdated"),
    );
    let items = s
        .groups
        .iter()
        .filter(|g| {
            filter.is_empty()
                || updated.is_some_and(|t| g.last_updated > t)
                || members.is_some_and(|t| g.last_membership_updated > t)
        })
        .map(|g| (g.id.clone(), group_json(&s.base, g)))
        .collect();
    page(&s, "/api/v1/groups", &q, items)
}

async fn group_users(
    S(state): S<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Q(q): Q<Query>,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Some(r) = guard(&mut s, &headers, format!("GET /api/v1/groups/{id}/users")) {
        return r;
    }
    let Some(g) = s.groups.iter().find(|g| g.id == id) else {
        return okta_error(
            StatusCode::NOT_FOUND,
            "E0000007",
            &format!("Not found: Resource not found: {id} (UserGroup)"),
        );
    };
    let items = g
        .members
        .iter()
        .filter_map(|m| s.users.iter().find(|u| &u.id == m))
        .map(|u| (u.id.clone(), user_json(&s.base, u)))
        .collect();
    page(&s, &format!("/api/v1/groups/{id}/users"), &q, items)
}

async fn app_groups(
    S(state): S<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Q(q): Q<Query>,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Some(r) = guard(&mut s, &headers, format!("GET /api/v1/apps/{id}/groups")) {
        return r;
    }
    let Some((_, groups)) = s.apps.iter().find(|(a, _)| *a == id) else {
        return okta_error(
            StatusCode::NOT_FOUND,
            "E0000007",
            &format!("Not found: Resource not found: {id} (AppInstance)"),
        );
    };
    let items = groups
        .iter()
        .map(|g| {
            (
                g.clone(),
                json!({ "id": g, "priority": 0, "lastUpdated": ts(&Utc::now()) }),
            )
        })
        .collect();
    page(&s, &format!("/api/v1/apps/{id}/groups"), &q, items)
}

type Shared = Arc<Mutex<State>>;
