//! `usersync serve` as a real child process on a free loopback port, driven
//! over HTTP. Every wait is bounded; a test that times out prints the
//! daemon's log.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::env::{built, TestEnv};

pub const TOKEN: &str = "e2e-token-0123456789abcdef";
/// The longest any single wait in these tests may take.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub struct Served {
    pub env: TestEnv,
    child: Child,
    pub base: String,
    client: reqwest::Client,
    log: PathBuf,
}

impl Served {
    /// Start `usersync serve` on the env's config; returns once it listens.
    pub fn start(env: TestEnv) -> Served {
        Served::start_with(env, &[])
    }

    /// `start` with extra environment variables for the daemon.
    pub fn start_with(env: TestEnv, vars: &[(&str, &str)]) -> Served {
        Served::start_on(env, "127.0.0.1:0", vars)
    }

    /// `start_with` on the address `listen`. The client trusts the CA
    /// `tls/ca.pem` of the env's folder, if there is one (HTTPS).
    pub fn start_on(env: TestEnv, listen: &str, vars: &[(&str, &str)]) -> Served {
        let log = env.dir.path().join("serve.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_usersync"))
            .arg("-c")
            .arg(env.dir.path().join("usersync.toml"))
            .args(["serve", "--listen", listen])
            .env("USERSYNC_API_TOKEN", TOKEN)
            .env("USERSYNC_LOG", "info")
            .envs(vars.iter().copied())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        // The first stdout line names the address.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next().and_then(Result::ok).unwrap_or_default());
            lines.for_each(drop); // keep the pipe open until the daemon exits
        });
        let line = rx.recv_timeout(PATIENCE).unwrap_or_default();
        let Some(base) = line.trim().strip_prefix("usersync serve: listening on ") else {
            let _ = child.kill();
            panic!(
                "usersync serve did not start (stdout {line:?}); log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        let mut client = reqwest::Client::builder().timeout(PATIENCE);
        if let Ok(pem) = std::fs::read(env.dir.path().join("tls/ca.pem")) {
            client = client.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
        }
        Served {
            env,
            child,
            base: base.to_string(),
            client: client.build().unwrap(),
            log,
        }
    }

    /// SIGKILL the daemon and hand back its installation (to start again).
    pub fn kill(mut self) -> TestEnv {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let empty = TestEnv {
            dir: tempfile::tempdir().unwrap(),
        };
        std::mem::replace(&mut self.env, empty)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    /// GET with the token; the body as JSON (or a JSON string).
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.client.get(self.url(path)).bearer_auth(TOKEN))
            .await
    }

    /// GET with the token, which must answer 200.
    pub async fn ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    /// GET without a token (or with `token`).
    pub async fn get_as(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    /// Any request with `token` (none: no Authorization header) and an
    /// optional JSON body.
    pub async fn request_as(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        self.send(req).await
    }

    /// Any request with `token` and a raw body (a plugin upload).
    pub async fn request_bytes(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let req = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token)
            .header("Content-Type", "application/wasm")
            .body(body);
        self.send(req).await
    }

    /// POST a JSON body with the token.
    pub async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(
            self.client
                .post(self.url(path))
                .bearer_auth(TOKEN)
                .json(body),
        )
        .await
    }

    pub async fn post(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.client.post(self.url(path)).bearer_auth(TOKEN))
            .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Poll `path` until `done` holds for its JSON; returns that JSON.
    pub async fn wait_for(&self, what: &str, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let (status, body) = self.get(path).await;
            if status == StatusCode::OK && done(&body) {
                return body;
            }
            if start.elapsed() > PATIENCE {
                panic!(
                    "timed out waiting for {what}; last GET {path}: {status} {body}\nlog:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Trigger job `job` (with `query`, e.g. `?dry_run=true`) and wait for
    /// that run to finish; returns its run record.
    pub async fn run(&self, job: &str, query: &str) -> Value {
        let (status, started) = self.post(&format!("/jobs/{job}/run{query}")).await;
        assert_eq!(status, StatusCode::ACCEPTED, "POST run: {started}");
        let id = started["run_id"].as_str().unwrap().to_string();
        self.wait_finished(job, &started).await;
        match self.get(&format!("/runs/{id}")).await {
            (StatusCode::OK, run) => run,
            // A run that failed before it started has no record: the job's
            // last run says why.
            _ => self.ok(&format!("/jobs/{job}")).await["last_run"].clone(),
        }
    }

    /// Wait until the run `started` (a `POST /jobs/{id}/run` answer) is
    /// the job's finished last run; returns the job.
    pub async fn wait_finished(&self, job: &str, started: &Value) -> Value {
        let what = format!("run {} to finish", started["run_id"]);
        self.wait_for(&what, &format!("/jobs/{job}"), |j| {
            j["status"] == "idle" && j["last_run"]["started_at"] == started["started_at"]
        })
        .await
    }

    /// Copy a built plugin into the plugins folder as `name.wasm`, the way
    /// users are told to: temp name, then rename.
    pub fn install(&self, folder: &str, built_name: &str, name: &str) {
        let plugins = self.env.dir.path().join("plugins");
        let tmp = plugins.join(format!(".{name}.wasm.tmp"));
        std::fs::copy(built(folder, built_name), &tmp).unwrap();
        std::fs::rename(&tmp, plugins.join(format!("{name}.wasm"))).unwrap();
    }

    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name} failed");
    }

    /// SIGTERM, then wait (bounded) for the process to exit.
    pub fn stop(&mut self) -> ExitStatus {
        self.signal("TERM");
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > PATIENCE {
                let _ = self.child.kill();
                panic!(
                    "usersync serve did not stop on SIGTERM; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The scripted connector with `users` (id `uN`, uid `userN`) and the
/// flip mapper (variant a) as job `people`; `extra` goes at the top of the job.
pub fn flip_env(users: usize, extra: &str) -> TestEnv {
    let env = TestEnv::new(
        &[("test-plugins", "scripted-connector")],
        &format!("connector = \"scripted-connector\"\nmappers = [\"flip-mapper\"]\n{extra}\n"),
    );
    std::fs::copy(
        built("test-plugins", "flip-mapper-a"),
        env.dir.path().join("plugins/flip-mapper.wasm"),
    )
    .unwrap();
    let users: Vec<Value> = (1..=users)
        .map(|i| crate::script::user(&format!("u{i}"), &format!("user{i}")))
        .collect();
    env.set_job("source", crate::script::source(users, vec![]));
    env
}
