//! Agent mode as real processes on loopback: `usersync serve` over HTTPS
//! (a throwaway CA made at test time) with the agent job `people`, and
//! `usersync agent` processes enrolled with one-time codes, each reading a
//! real slapd with its own grant (the bind password only in its env).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ldap_harness::{Slapd, TlsFiles};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::daemon_env::{Served, PATIENCE, TOKEN};
use crate::env::{test_cache, TestEnv};

/// The variable the agents read the directory's bind password from.
pub const PASSWORD_VAR: &str = "E2E_AGENT_LDAP_PASSWORD";

/// Serve HTTPS with a new CA (`tls/ca.pem`), give up a silent agent's run
/// after 5 s, and cap batches at 256 KiB.
pub fn serve_tls(env: &TestEnv) {
    let dir = env.dir.path().join("tls");
    let ip = "127.0.0.1".parse().unwrap();
    TlsFiles::generate(&dir, "usersync agent test CA", &[ip], &["localhost"]).unwrap();
    env.edit(|doc| {
        let server = doc
            .entry("server")
            .or_insert(toml::Value::Table(Default::default()))
            .as_table_mut()
            .unwrap();
        server.insert("tls_cert".into(), "tls/server.pem".into());
        server.insert("tls_key".into(), "tls/server.key".into());
        server.insert("agent_timeout_seconds".into(), 5.into());
        server.insert("agent_claim_seconds".into(), 30.into());
        server.insert("agent_max_batch_kb".into(), 256.into());
    });
}

/// The job `people` of the default tenant, read by an agent from `slapd`.
pub fn agent_env(slapd: &Slapd) -> TestEnv {
    let env = TestEnv::new(
        &[("plugins", "ldap"), ("plugins", "default-mapper")],
        "connector = \"ldap\"\nmappers = [\"default-mapper\"]\nruns_on = \"agent\"\n",
    );
    let mut source = crate::ldap_env::openldap_source(slapd);
    source["deletion_check_minutes"] = json!(0);
    source["page_size"] = json!(50);
    env.set_job("source", source);
    env.raise_limits();
    serve_tls(&env);
    env
}

/// A one-time enrolment code for `tenant`, made through the API.
pub async fn enrolment_code(d: &Served, tenant: &str) -> String {
    let (status, body) = d
        .post(&format!("/tenants/{tenant}/agents/enrollments"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["code"].as_str().unwrap().to_string()
}

/// A `usersync agent` process.
pub struct Agent {
    pub dir: PathBuf,
    child: Option<Child>,
}

impl Agent {
    /// Write `name`'s agent.toml (reading `slapd` for job `people`) under
    /// the server's folder and enrol it with a new code of `tenant`.
    pub async fn enrol(d: &Served, tenant: &str, name: &str, slapd: &Slapd) -> Agent {
        let dir = d.env.dir.path().join("agents").join(name);
        std::fs::create_dir_all(dir.join("cache")).unwrap();
        // Compiled plugins are shared with the other tests (keyed by hash).
        std::os::unix::fs::symlink(test_cache(), dir.join("cache/compiled")).unwrap();
        let config = format!(
            r#"
name = "{name}"
ca_file = "{ca}"
cache_dir = "cache"
poll_seconds = 2
batch_kb = 16
[jobs.people.ldap]
url = "{url}"
ca_file = "{ldap_ca}"
bind_dn = "{dn}"
bind_password = {{ env = "{PASSWORD_VAR}" }}
timeout_seconds = 10.0
"#,
            ca = d.env.dir.path().join("tls/ca.pem").display(),
            url = slapd.ldaps_url(),
            ldap_ca = slapd.ca_cert_path().display(),
            dn = slapd.admin_dn(),
        );
        std::fs::write(dir.join("agent.toml"), config).unwrap();
        let code = enrolment_code(d, tenant).await;
        let out = Command::new(env!("CARGO_BIN_EXE_usersync"))
            .arg("-c")
            .arg(dir.join("agent.toml"))
            .args(["agent", "--server", &d.base, "--enroll", &code])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "enrolment failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Agent { dir, child: None }
    }

    /// Start the agent process (its log: `agent.log` in its folder).
    pub fn start(&mut self, password: &str) {
        let log = std::fs::File::create(self.dir.join("agent.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_usersync"))
            .arg("-c")
            .arg(self.dir.join("agent.toml"))
            .arg("agent")
            .env("USERSYNC_LOG", "info")
            .env(PASSWORD_VAR, password)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// SIGKILL the agent.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default()
    }

    /// The credential the enrolment stored.
    pub fn credential(&self) -> Value {
        let path = self.dir.join("agent.credential");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Wait (bounded) until the daemon's log has said `what` `n` times.
pub async fn wait_log(d: &Served, what: &str, n: usize) {
    let start = Instant::now();
    while d.log().matches(what).count() < n {
        assert!(
            start.elapsed() < PATIENCE,
            "the daemon never logged {what:?} {n} times; log:\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Active users of `tenant` in the store, by the API.
pub async fn active_users(d: &Served, tenant: &str) -> u64 {
    d.ok(&format!("/users?tenant={tenant}&active=true")).await["total"]
        .as_u64()
        .unwrap()
}

/// Trigger `tenant`'s job `people`; returns the `run` answer.
pub async fn trigger(d: &Served, tenant: &str) -> Value {
    let (status, started) = d.post(&format!("/tenants/{tenant}/jobs/people/run")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    started
}

/// Wait for the run `started` to end; its run record.
pub async fn finished(d: &Served, tenant: &str, started: &Value) -> Value {
    d.wait_for(
        "the agent run to end",
        &format!("/tenants/{tenant}/jobs/people"),
        |j| j["status"] == "idle" && j["last_run"]["run_id"] == started["run_id"],
    )
    .await;
    d.ok(&format!("/runs/{}", started["run_id"].as_str().unwrap()))
        .await
}

/// A client of the agent protocol trusting the test CA.
pub fn protocol_client(env_dir: &Path) -> reqwest::Client {
    let pem = std::fs::read(env_dir.join("tls/ca.pem")).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .timeout(PATIENCE)
        // A fresh connection per request: the server closes one after a 413
        // (the body unread), and a pooled one could be reused in between.
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// `usersync agents ...` against the daemon; stdout.
pub fn agents_cli(d: &Served, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_usersync"))
        .arg("agents")
        .args(args)
        .args(["--server", &d.base, "--token", TOKEN, "--ca-file"])
        .arg(d.env.dir.path().join("tls/ca.pem"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "usersync agents {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
