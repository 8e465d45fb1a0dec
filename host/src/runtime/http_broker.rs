//! The brokered `http` capability (minimal first version): a plugin may
//! reach only the origins (`scheme://host:port`) its job grants; the host
//! sends the request with reqwest (rustls), bounds time and response size,
//! and never lets a plugin open a socket itself.

use std::time::Duration;

use reqwest::Url;

const TIMEOUT: Duration = Duration::from_secs(30);

pub struct HttpBroker {
    allowed: Vec<String>,
    client: reqwest::Client,
    handle: tokio::runtime::Handle,
    max_body: usize,
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
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

impl HttpBroker {
    /// `None` when there is no tokio runtime to send from.
    pub fn new(grants: &[String], max_body: usize) -> Option<HttpBroker> {
        let allowed = grants
            .iter()
            .filter_map(|g| Url::parse(g).ok().as_ref().and_then(origin))
            .collect();
        Some(HttpBroker {
            allowed,
            client: reqwest::Client::builder().timeout(TIMEOUT).build().ok()?,
            handle: tokio::runtime::Handle::try_current().ok()?,
            max_body,
        })
    }

    /// Send one request on behalf of a plugin. Called from a blocking
    /// thread (plugins run on `spawn_blocking`), so waiting here is fine.
    pub fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: Option<Vec<u8>>,
    ) -> Result<Response, String> {
        let parsed = Url::parse(url).map_err(|e| format!("invalid URL {url:?}: {e}"))?;
        let origin = origin(&parsed).ok_or_else(|| format!("URL {url:?} has no host"))?;
        if !self.allowed.contains(&origin) {
            return Err(format!(
                "HTTP to {origin} is not granted to this plugin; add it to the job's [jobs.grants] http = [\"{origin}\"]"
            ));
        }
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| format!("invalid HTTP method {method:?}"))?;
        let mut req = self.client.request(method, parsed);
        for (k, v) in headers {
            // Credentials are the host's to inject, never the plugin's.
            if k.eq_ignore_ascii_case("authorization") {
                return Err(
                    "plugins may not set Authorization; the host injects configured credentials"
                        .into(),
                );
            }
            req = req.header(k, v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let max = self.max_body;
        self.handle.block_on(async move {
            let mut resp = req
                .send()
                .await
                .map_err(|e| format!("HTTP request to {origin} failed: {}", e.without_url()))?;
            let status = resp.status().as_u16();
            let headers = resp
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| {
                format!(
                    "reading the answer from {origin} failed: {}",
                    e.without_url()
                )
            })? {
                if body.len() + chunk.len() > max {
                    return Err(format!(
                        "the answer from {origin} is larger than {} KiB (limits.max_output_kb)",
                        max / 1024
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Response {
                status,
                headers,
                body,
            })
        })
    }
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
    }
}
