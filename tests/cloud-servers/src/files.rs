//! A static file server behind HTTP basic auth, for the CSV connector's
//! remote mode ("fetch the export over HTTPS with a user name and password").

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::header;
use crate::tls::{self, Running};

struct Files {
    /// `Basic base64(user:password)` that is accepted.
    authorization: String,
    files: HashMap<String, Vec<u8>>,
    requests: usize,
    /// The next this many requests answer 429 with this Retry-After.
    throttle: (usize, u64),
}

/// The fake; stops when dropped.
pub struct FileServer {
    state: Arc<Mutex<Files>>,
    origin: String,
    _running: Running,
}

impl FileServer {
    /// Serves files to `user` / `password` only.
    pub fn start(user: &str, password: &str) -> FileServer {
        let state = Arc::new(Mutex::new(Files {
            authorization: format!("Basic {}", STANDARD.encode(format!("{user}:{password}"))),
            files: HashMap::new(),
            requests: 0,
            throttle: (0, 0),
        }));
        let router = Router::new()
            .route("/{*path}", get(serve))
            .with_state(state.clone());
        let running = tls::serve(router);
        FileServer {
            state,
            origin: format!("https://127.0.0.1:{}", running.addr.port()),
            _running: running,
        }
    }

    pub fn origin(&self) -> String {
        self.origin.clone()
    }

    /// Publish (or replace) `path`, e.g. `exports/people.csv`.
    pub fn put(&self, path: &str, body: &str) {
        let mut s = self.state.lock().unwrap();
        s.files.insert(path.to_string(), body.as_bytes().to_vec());
    }

    pub fn requests(&self) -> usize {
        self.state.lock().unwrap().requests
    }

    /// The next `count` requests answer 429 with `Retry-After: secs`.
    pub fn throttle(&self, count: usize, retry_after_secs: u64) {
        self.state.lock().unwrap().throttle = (count, retry_after_secs);
    }
}

async fn serve(
    State(state): State<Arc<Mutex<Files>>>,
    headers: HeaderMap,
    Path(path): Path<String>,
) -> Response {
    let mut s = state.lock().unwrap();
    s.requests += 1;
    if s.throttle.0 > 0 {
        s.throttle.0 -= 1;
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", s.throttle.1.to_string())],
            "slow down",
        )
            .into_response();
    }
    if header(&headers, "authorization") != Some(s.authorization.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            [("www-authenticate", "Basic realm=\"exports\"")],
            "unauthorized",
        )
            .into_response();
    }
    match s.files.get(&path) {
        Some(body) => ([("content-type", "text/csv; charset=utf-8")], body.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
