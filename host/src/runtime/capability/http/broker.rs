//! The HTTP broker: checks a request's destination (scheme + host + port of
//! the parsed URL) against the job's `[jobs.grants] http`, adds the named
//! credential (`credentials.rs`), sends it with reqwest (rustls, TLS always
//! verified, optional extra CA from `grants.http_ca_file`), retries 429/503
//! as the server asks (`retry.rs`), and caps time and response size.

use std::time::Duration;

use anyhow::Context;
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::Url;

use super::credentials::Injector;
use super::retry;
use crate::runtime::job::{CallContext, Grant};

const TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_REDIRECTS: usize = 5;

/// Headers only the host may set: credentials are injected, and the
/// destination is the URL, never a header.
const RESERVED: &[&str] = &["authorization", "proxy-authorization", "host", "cookie"];

pub struct HttpBroker {
    allowed: Vec<String>,
    client: reqwest::Client,
    handle: tokio::runtime::Handle,
    max_body: usize,
    credentials: Injector,
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What a plugin asked for (contract-independent).
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub credential: Option<String>,
}

/// `scheme://host:port`, with the scheme's default port made explicit.
pub fn origin(url: &Url) -> Option<String> {
    Some(format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str()?,
        url.port_or_known_default()?
    ))
}

/// The refusal for a destination the job does not grant; names the key
/// that would grant it.
pub fn not_granted(destination: &str) -> String {
    let shown = Url::parse(destination)
        .ok()
        .and_then(|u| origin(&u))
        .unwrap_or_else(|| destination.to_string());
    format!(
        "HTTP to {shown} is not granted to this plugin; to allow it add the origin to the job: [jobs.grants] http = [\"{shown}\"]"
    )
}

impl HttpBroker {
    /// The broker for a job's grant. Fails on an unreadable CA file or when
    /// there is no tokio runtime to send from.
    pub fn new(grant: &Grant, ctx: &CallContext, max_body: usize) -> anyhow::Result<HttpBroker> {
        let allowed: Vec<String> = grant
            .http
            .iter()
            .filter_map(|g| Url::parse(g).ok().as_ref().and_then(origin))
            .collect();
        let redirect_allowed = allowed.clone();
        // Redirects are followed only to granted origins, so a server
        // cannot bounce a plugin's request somewhere it was not granted.
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            let target = origin(attempt.url()).unwrap_or_default();
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else if redirect_allowed.contains(&target) {
                attempt.follow()
            } else {
                attempt.error(format!("redirected to {target}, which is not granted"))
            }
        });
        let mut builder = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(policy)
            .user_agent(concat!("usersync/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &grant.http_ca_file {
            let pem = std::fs::read(path).with_context(|| {
                format!(
                    "cannot read the CA certificate {} (jobs.grants.http_ca_file)",
                    path.display()
                )
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).with_context(|| {
                format!(
                    "{} is not a PEM certificate (jobs.grants.http_ca_file)",
                    path.display()
                )
            })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        Ok(HttpBroker {
            credentials: Injector::new(ctx, &grant.http_credentials, &allowed),
            allowed,
            client: builder.build().context("cannot set up the HTTP client")?,
            handle: tokio::runtime::Handle::try_current()
                .context("brokered HTTP needs a tokio runtime")?,
            max_body,
        })
    }

    /// Send one request on behalf of a plugin. Called from a blocking
    /// thread (plugins run on `spawn_blocking`), so waiting here is fine;
    /// the caller resets the plugin's CPU clock afterwards.
    pub fn send(&self, req: Request) -> Result<Response, String> {
        let url = Url::parse(&req.url).map_err(|e| format!("invalid URL {:?}: {e}", req.url))?;
        let origin = origin(&url).ok_or_else(|| format!("URL {:?} has no host", req.url))?;
        if !self.allowed.contains(&origin) {
            return Err(not_granted(&origin));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "the URL for {origin} carries a user name or password; configure credentials in [jobs.credentials] instead"
            ));
        }
        let method = reqwest::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| format!("invalid HTTP method {:?}", req.method))?;
        let credential = req
            .credential
            .as_deref()
            .map(|name| self.credentials.pick(name, &origin))
            .transpose()?;
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in &req.headers {
            let reserved = RESERVED.iter().any(|r| k.eq_ignore_ascii_case(r))
                || credential.is_some_and(|c| k.eq_ignore_ascii_case(c.header_name()));
            if reserved {
                return Err(format!(
                    "plugins may not set the {k} header; the host injects credentials named in `request.credential` from [jobs.credentials]"
                ));
            }
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("invalid header name {k:?}"))?;
            let value =
                HeaderValue::from_str(v).map_err(|_| format!("invalid value for header {k}"))?;
            headers.append(name, value);
        }
        self.handle.block_on(async move {
            let mut attempt = 1;
            let mut refreshed = false;
            loop {
                let mut rb = self
                    .client
                    .request(method.clone(), url.clone())
                    .headers(headers.clone());
                if let Some(c) = credential {
                    let (name, value) = self.credentials.header(c, &self.client).await?;
                    rb = rb.header(name, value);
                }
                if let Some(b) = &req.body {
                    rb = rb.body(b.clone());
                }
                let resp = rb
                    .send()
                    .await
                    .map_err(|e| format!("HTTP request to {origin} failed: {}", describe(&e)))?;
                let status = resp.status().as_u16();
                // A cached token the server no longer accepts: fetch a new one, once.
                if status == 401 && !refreshed && credential.is_some_and(|c| c.is_oauth2()) {
                    refreshed = true;
                    self.credentials.forget(credential.expect("checked"));
                    continue;
                }
                if let Some(wait) =
                    retry::wait_before_retry(status, resp.headers(), attempt, std::time::SystemTime::now())
                {
                    tracing::info!(%origin, status, attempt, wait_s = wait.as_secs_f64(), "throttled; retrying as the server asks");
                    drop(resp);
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                    continue;
                }
                tracing::debug!(%origin, path = url.path(), status, "brokered HTTP request");
                let headers = resp
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                    .collect();
                let body = read_body(resp, self.max_body, &origin).await?;
                return Ok(Response { status, headers, body });
            }
        })
    }
}

/// The body, refused once it grows past `max` bytes.
pub(super) async fn read_body(
    mut resp: reqwest::Response,
    max: usize,
    origin: &str,
) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("reading the answer from {origin} failed: {}", describe(&e)))?
    {
        if body.len() + chunk.len() > max {
            return Err(format!(
                "the answer from {origin} is larger than {} KiB (limits.max_output_kb)",
                max / 1024
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A reqwest error with its cause chain (e.g. the TLS reason). Request URLs
/// never carry secrets: the broker refuses URLs with a user name or password.
pub(super) fn describe(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut text = if e.is_timeout() {
        format!("timed out after {} s", TIMEOUT.as_secs())
    } else {
        e.to_string()
    };
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    if text.contains("certificate") || text.contains("UnknownIssuer") {
        text.push_str(" (TLS is verified; for a private CA set [jobs.grants] http_ca_file)");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_make_default_ports_explicit() {
        assert_eq!(
            origin(&Url::parse("https://graph.example.com/v1.0/users").unwrap()).unwrap(),
            "https://graph.example.com:443"
        );
        assert_eq!(
            origin(&Url::parse("http://127.0.0.1:8080/x").unwrap()).unwrap(),
            "http://127.0.0.1:8080"
        );
        // Parsing normalises case and IP forms before matching.
        assert_eq!(
            origin(&Url::parse("HTTPS://Graph.Example.COM:443/").unwrap()).unwrap(),
            "https://graph.example.com:443"
        );
        assert_eq!(
            origin(&Url::parse("https://127.1:8443/").unwrap()).unwrap(),
            "https://127.0.0.1:8443"
        );
    }

    fn broker(grants: &[&str]) -> (tokio::runtime::Runtime, HttpBroker) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let grant = Grant {
            http: grants.iter().map(|g| g.to_string()).collect(),
            ..Grant::default()
        };
        let b = {
            let _guard = rt.enter();
            HttpBroker::new(&grant, &CallContext::default(), 1024).unwrap()
        };
        (rt, b)
    }

    fn get(url: &str, headers: &[(&str, &str)], credential: Option<&str>) -> Request {
        Request {
            method: "GET".into(),
            url: url.into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: None,
            credential: credential.map(String::from),
        }
    }

    #[test]
    fn only_granted_origins_are_reached() {
        let (_rt, b) = broker(&["https://graph.example.com"]);
        for url in [
            "https://evil.example.com/x",
            "http://graph.example.com/x",      // scheme differs
            "https://graph.example.com:444/x", // port differs
        ] {
            let e = b.send(get(url, &[], None)).err().unwrap();
            assert!(e.contains("is not granted"), "{url}: {e}");
            assert!(e.contains("[jobs.grants] http = [\""), "{e}");
        }
    }

    #[test]
    fn plugins_cannot_set_credentials_or_host() {
        let (_rt, b) = broker(&["https://graph.example.com"]);
        for h in ["Authorization", "host", "Proxy-Authorization"] {
            let e = b
                .send(get("https://graph.example.com/x", &[(h, "v")], None))
                .err()
                .unwrap();
            assert!(e.contains("may not set"), "{e}");
        }
        let e = b
            .send(get("https://u:p@graph.example.com/x", &[], None))
            .err()
            .unwrap();
        assert!(e.contains("user name or password"), "{e}");
        let e = b
            .send(get("https://graph.example.com/x", &[], Some("graph")))
            .err()
            .unwrap();
        assert!(e.contains("[jobs.credentials.graph]"), "{e}");
    }
}
