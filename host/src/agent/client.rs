//! The agent's HTTPS client: verified TLS (the public roots plus an
//! optional private CA; there is no switch to turn verification off), the
//! credential as a bearer token, bounded waits and downloads.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::protocol::{
    EnrollAnswer, EnrollRequest, Finish, PollAnswer, PollRequest, WorkItem, PREFIX,
};

/// The largest plugin the agent downloads.
const MAX_PLUGIN_BYTES: usize = 64 << 20;

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    credential: Option<String>,
}

/// An answer the server refused with; `status` says whether to retry.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the server answered {}: {}", self.status, self.message)
    }
}

impl std::error::Error for Refusal {}

/// Send `req`; a transport error, or a non-2xx answer as a [`Refusal`]
/// with the server's reason.
async fn answered(req: reqwest::RequestBuilder) -> Result<reqwest::Response> {
    let res = req.send().await.map_err(|e| anyhow!("{}", transport(&e)))?;
    let status = res.status();
    if status.is_success() {
        return Ok(res);
    }
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    let message = body["error"]
        .as_str()
        .unwrap_or("no reason given")
        .to_string();
    Err(Refusal { status, message }.into())
}

/// Whether `e` is the server saying no (as opposed to not answering).
pub fn refusal(e: &anyhow::Error) -> Option<&Refusal> {
    e.downcast_ref::<Refusal>()
}

impl Client {
    pub fn new(server: &url::Url, ca_file: Option<&std::path::Path>) -> Result<Client> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .https_only(true)
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("usersync-agent/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = ca_file {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read ca_file {}", path.display()))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("ca_file {} is not PEM certificates", path.display()))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        Ok(Client {
            http: builder.build()?,
            base: server.as_str().trim_end_matches('/').to_string(),
            credential: None,
        })
    }

    pub fn with_credential(mut self, credential: String) -> Client {
        self.credential = Some(credential);
        self
    }

    fn request(&self, method: Method, path: &str, timeout: Duration) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .request(method, format!("{}{PREFIX}{path}", self.base))
            .timeout(timeout);
        if let Some(c) = &self.credential {
            req = req.bearer_auth(c);
        }
        req
    }

    async fn send<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T> {
        Ok(answered(req).await?.json().await?)
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<T> {
        self.send(self.request(Method::POST, path, timeout).json(body))
            .await
    }

    pub async fn enroll(&self, req: &EnrollRequest) -> Result<EnrollAnswer> {
        self.post("/enroll", req, Duration::from_secs(30)).await
    }

    pub async fn poll(&self, req: &PollRequest) -> Result<Option<WorkItem>> {
        let timeout = Duration::from_secs(req.wait_seconds + 30);
        let answer: PollAnswer = self.post("/work", req, timeout).await?;
        Ok(answer.work)
    }

    /// Batch `seq` of `run`, already encoded as JSON.
    pub async fn batch(&self, run: &str, seq: u64, body: Vec<u8>) -> Result<()> {
        let req = self
            .request(
                Method::POST,
                &format!("/runs/{run}/batches/{seq}"),
                Duration::from_secs(120),
            )
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        let _: serde_json::Value = self.send(req).await?;
        Ok(())
    }

    pub async fn beat(&self, run: &str) -> Result<()> {
        let req = self.request(
            Method::POST,
            &format!("/runs/{run}/beat"),
            Duration::from_secs(30),
        );
        answered(req).await?;
        Ok(())
    }

    pub async fn finish(&self, run: &str, fin: &Finish) -> Result<()> {
        let _: serde_json::Value = self
            .post(&format!("/runs/{run}/finish"), fin, Duration::from_secs(30))
            .await?;
        Ok(())
    }

    /// The plugin with this hash, at most 64 MiB.
    pub async fn plugin(&self, sha256: &str) -> Result<Vec<u8>> {
        let req = self.request(
            Method::GET,
            &format!("/plugins/{sha256}"),
            Duration::from_secs(300),
        );
        let mut res = answered(req).await?;
        let mut bytes = Vec::new();
        while let Some(chunk) = res.chunk().await? {
            if bytes.len() + chunk.len() > MAX_PLUGIN_BYTES {
                bail!("the plugin is larger than {MAX_PLUGIN_BYTES} bytes");
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }
}

/// A transport error with its causes (a TLS failure names the certificate
/// problem), never with a credential (none is in a URL).
fn transport(e: &reqwest::Error) -> String {
    let mut out = format!("cannot reach the server: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(&format!(": {s}"));
        source = s.source();
    }
    out
}
