//! Helpers of the tenant_admin tests: an installation with tenant files,
//! a CSV job with secrets, tenants made as the operator, bounded waits.

use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::daemon_env::{Served, TOKEN};
use crate::env::TestEnv;

pub const KEY: &str = "0101010101010101010101010101010101010101010101010101010101010101";
pub const SECRET: &str = "sealed-hr-api-secret-4711";
pub const PASSWORD: &str = "sealed-basic-password-0815";
const PEOPLE: &str = "id,uid,active,groups\n1,ada,true,Staff\n2,alan,true,Staff\n";

/// The CSV installation with `[server] tenant_files_dir` and acme's CSV
/// in `tenant-files/acme/data/people.csv`.
pub fn managed_env() -> TestEnv {
    let env = TestEnv::csv();
    let files = env.dir.path().join("tenant-files");
    for t in ["acme", "globex"] {
        std::fs::create_dir_all(files.join(t).join("data")).unwrap();
        std::fs::write(files.join(t).join("data/people.csv"), PEOPLE).unwrap();
    }
    let files = files.display().to_string();
    env.edit(|doc| {
        doc.insert(
            "server".into(),
            toml::Value::Table(toml::toml! { tenant_files_dir = files }),
        );
    });
    env
}

/// A CSV job as the API takes it, with secrets in the clear.
pub fn csv_job(mappers: &[&str]) -> Value {
    json!({
        "connector": "csv",
        "mappers": mappers,
        "grants": {"input_dir": "data"},
        "source": {"path": "/input/people.csv", "id_column": "id", "enabled_column": "active", "groups_column": "groups"},
        "sync": {"license_kind": "standard"},
        "secrets": {"hr_api": SECRET},
        "credentials": {"hr": {"type": "basic", "username": "sync", "password": {"value": PASSWORD}}}
    })
}

/// Every answer a test saw, to look for secrets in.
#[derive(Default)]
pub struct Seen(pub Vec<String>);

impl Seen {
    pub async fn call(
        &mut self,
        d: &Served,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let (status, answer) = d.request_as(method, path, Some(token), body).await;
        self.0.push(answer.to_string());
        (status, answer)
    }
}

/// Make tenant `id` with `standard` seats as the operator; its token.
pub async fn make_tenant(d: &Served, id: &str) -> String {
    let body = json!({"id": id, "licenses": {"standard": 10}});
    let (status, t) = d
        .request_as(Method::POST, "/tenants", Some(TOKEN), Some(&body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    assert_eq!(t["defined_in"], "api", "{t}");
    t["token"].as_str().expect("a generated token").to_string()
}

/// Run `tenant`'s job `people` with `token` and wait for it to end; the run.
pub async fn run_people(d: &Served, tenant: &str, token: &str) -> Value {
    let job = format!("/tenants/{tenant}/jobs/people");
    let (status, started) = d
        .request_as(Method::POST, &format!("{job}/run"), Some(token), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let done = d
        .wait_for(&format!("{tenant}'s run"), &job, |j| {
            j["status"] == "idle" && j["last_run"]["run_id"] == started["run_id"]
        })
        .await;
    done["last_run"].clone()
}

/// Poll until the condition (an expression that may `.await`) holds, at
/// most [`PATIENCE`]; `$d` is the daemon whose log a timeout prints.
#[macro_export]
macro_rules! eventually {
    ($what:expr, $d:expr, $cond:expr) => {{
        let start = std::time::Instant::now();
        while !$cond {
            if start.elapsed() > $crate::daemon_env::PATIENCE {
                panic!("timed out waiting for {}; log:\n{}", $what, $d.log());
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }};
}

/// The plugin `name` that `token` sees served for `tenant`, if any.
pub async fn tenant_plugin(d: &Served, token: &str, tenant: &str, name: &str) -> Option<Value> {
    let (status, plugins) = d.get_as("/plugins", Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{plugins}");
    plugins["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name && p["tenant"] == tenant)
        .cloned()
}

pub fn file_contains(path: &Path, needle: &str) -> bool {
    std::fs::read(path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
}

/// `method path` with `token` for globex's real name and a made-up one:
/// both answer `status`, with the same text but for the name.
pub async fn same_for_real_and_guessed(
    d: &Served,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
    status: StatusCode,
) {
    let (rs, rb) = d
        .request_as(
            method.clone(),
            &path.replace("{t}", "globex"),
            Some(token),
            body,
        )
        .await;
    let (gs, gb) = d
        .request_as(
            method.clone(),
            &path.replace("{t}", "initech"),
            Some(token),
            body,
        )
        .await;
    assert_eq!((rs, gs), (status, status), "{method} {path}: {rb} / {gb}");
    assert_eq!(
        rb.to_string().replace("globex", "X"),
        gb.to_string().replace("initech", "X")
    );
}

/// The store URL of `env` made absolute, for a second node elsewhere.
pub fn shared_store_url(env: &TestEnv) -> String {
    let url = env.config().store.url;
    match url.strip_prefix("sqlite://") {
        Some(rel) if !rel.starts_with('/') => {
            format!("sqlite://{}", env.dir.path().join(rel).display())
        }
        _ => url,
    }
}
