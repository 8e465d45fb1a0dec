//! Local HTTPS fakes of the cloud directories usersync reads, for the
//! host's end-to-end tests: Microsoft Graph (Entra ID) with its token
//! endpoint, Okta, and a basic-auth file server for remote CSV. Each runs on
//! 127.0.0.1 with a certificate from a CA generated at test time
//! ([`ca_pem`]); tests change the directory through a plain Rust API between
//! runs. README.md lists where the fakes simplify the real services.

mod files;
mod graph;
mod okta;
mod tls;

pub use files::FileServer;
pub use graph::{GraphGroup, GraphServer, GraphUser};
pub use okta::{OktaGroup, OktaServer, OktaUser};
pub use tls::ca_pem;

use std::collections::HashMap;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// The query string as pairs, in order (`$select`, `$top`, ... kept as is).
pub(crate) type Query = HashMap<String, String>;

/// A JSON response with a status.
pub(crate) fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// The value of header `name`, if it is text.
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `base?k=v&...` with the values percent-encoded as a client would.
pub(crate) fn link(base: &str, params: &[(&str, String)]) -> String {
    let mut out = base.to_string();
    for (i, (k, v)) in params.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(k);
        out.push('=');
        out.push_str(&encode(v));
    }
    out
}

fn encode(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b',' | b'$' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn links_encode_values() {
        assert_eq!(
            super::link(
                "https://x/api",
                &[
                    ("search", "lastUpdated gt \"a\"".into()),
                    ("limit", "2".into())
                ]
            ),
            "https://x/api?search=lastUpdated%20gt%20%22a%22&limit=2"
        );
    }
}
