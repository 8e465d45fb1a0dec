//! Tenant tokens (issue 12): a tenant's own API token sees and changes only
//! its tenant. Every endpoint of the OpenAPI document (which a unit test
//! holds equal to the router) is called with acme's token and globex's
//! ids, real and guessed: both get the same 404, so nothing confirms that
//! globex or its jobs and runs exist, and listings hold nothing of globex.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::daemon_env::{Served, TOKEN};
use crate::env::TestEnv;
use crate::tenants::same_job_id_in_two_tenants;

const ACME_TOKEN: &str = "acme-tenant-token-0123456789";
const GLOBEX_TOKEN: &str = "globex-tenant-token-0123456789";
const GLOBEX_TOKEN_VAR: &str = "E2E_GLOBEX_API_TOKEN";

/// Tenants acme and globex, each with a job `people` (and globex a job
/// `globex-only`); acme's token is in a file, globex's in a variable.
fn two_tenants_with_tokens() -> TestEnv {
    let env = same_job_id_in_two_tenants(toml::Table::new());
    std::fs::write(env.dir.path().join("acme.token"), format!("{ACME_TOKEN}\n")).unwrap();
    env.edit(|doc| {
        for t in doc["tenants"].as_array_mut().unwrap() {
            let t = t.as_table_mut().unwrap();
            let token = match t["id"].as_str().unwrap() {
                "acme" => "file:acme.token".to_string(),
                "globex" => format!("env:{GLOBEX_TOKEN_VAR}"),
                _ => continue,
            };
            t.insert("token".into(), token.into());
        }
        let jobs = doc["jobs"].as_array_mut().unwrap();
        let mut only = jobs
            .iter()
            .find(|j| j["tenant"].as_str() == Some("globex"))
            .unwrap()
            .as_table()
            .unwrap()
            .clone();
        only.insert("id".into(), "globex-only".into());
        jobs.push(toml::Value::Table(only));
    });
    env
}

/// Run `tenant`'s job `people` with the operator token; its run id.
async fn run_people(d: &Served, tenant: &str) -> String {
    let (status, started) = d.post(&format!("/tenants/{tenant}/jobs/people/run")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    d.wait_for(
        &format!("{tenant}'s run"),
        &format!("/tenants/{tenant}/jobs/people"),
        |j| j["status"] == "idle" && j["last_run"]["run_id"] == started["run_id"],
    )
    .await;
    started["run_id"].as_str().unwrap().to_string()
}

/// One call made twice: with globex's real names and with guessed ones.
struct Probe {
    method: Method,
    real: (String, Option<Value>),
    guess: (String, Option<Value>),
}

/// The real names and their guessed stand-ins, longest first so a run id
/// is replaced before its prefix.
fn pairs(run: &str) -> Vec<(String, String)> {
    vec![
        (
            run.to_string(),
            "0badc0de-0000-4000-8000-000000000000".into(),
        ),
        (run[..8].to_string(), "0badc0de".into()),
        ("globex-only".into(), "no-such-job".into()),
        ("globex".into(), "initech".into()),
    ]
}

/// `text` with every real and guessed name made the same placeholder.
fn normalized(text: &str, pairs: &[(String, String)]) -> String {
    let mut out = text.to_string();
    for (i, (real, guess)) in pairs.iter().enumerate() {
        out = out
            .replace(real, &format!("<{i}>"))
            .replace(guess, &format!("<{i}>"));
    }
    out
}

/// The probes of one operation of the OpenAPI document.
fn probes(path: &str, method: &Method, op: &Value, run: &str) -> Vec<Probe> {
    let fill = |tenant: &str, id: &str| {
        path.replace("{tenant}", tenant)
            .replace("{id}", id)
            .replace("{name}", "csv")
    };
    let mut out = Vec::new();
    let mut probe = |real: (String, Option<Value>), guess: (String, Option<Value>)| {
        out.push(Probe {
            method: method.clone(),
            real,
            guess,
        })
    };
    if op.get("requestBody").is_some() && path.ends_with("/preview") {
        // The body is a candidate mapper; the job is checked before it is read.
        let wasm = Some(json!("not a plugin"));
        probe(
            (fill("globex", "people"), wasm.clone()),
            (fill("initech", "people"), wasm),
        );
    } else if op.get("requestBody").is_some() && path.contains("{tenant}") {
        // A job, a tenant change or a plugin: the tenant is checked first.
        let body = Some(json!({"connector": "csv", "licenses": {"standard": 1}}));
        probe(
            (fill("globex", "people"), body.clone()),
            (fill("initech", "people"), body),
        );
    } else if op.get("requestBody").is_some() && path == "/tenants" {
        probe(
            (path.into(), Some(json!({"id": "globex"}))),
            (path.into(), Some(json!({"id": "initech"}))),
        );
    } else if op.get("requestBody").is_some() {
        let body = |tenant: Option<&str>, job: &str| {
            let mut b = json!({"job": job, "username": "grace", "password": "not-her-password"});
            if let Some(t) = tenant {
                b["tenant"] = json!(t);
            }
            Some(b)
        };
        assert_eq!(
            path, "/verify-password",
            "{method} {path} takes a body: give it a cross-tenant probe here"
        );
        probe(
            (path.into(), body(None, "globex-only")),
            (path.into(), body(None, "no-such-job")),
        );
        probe(
            (path.into(), body(Some("globex"), "people")),
            (path.into(), body(Some("initech"), "people")),
        );
    } else if path.contains("{tenant}") {
        probe(
            (fill("globex", "people"), None),
            (fill("initech", "people"), None),
        );
    } else if path.starts_with("/runs/{id}") {
        probe((fill("", run), None), (fill("", &pairs(run)[0].1), None));
        probe((fill("", &run[..8]), None), (fill("", "0badc0de"), None));
    } else if path.contains("{id}") {
        probe(
            (fill("", "globex-only"), None),
            (fill("", "no-such-job"), None),
        );
    }
    let params: Vec<&str> = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["in"] == "query")
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    let sep = |p: &str| if p.contains('?') { '&' } else { '?' };
    for (param, real, guess) in [
        ("tenant", "globex", "initech"),
        ("job", "globex-only", "no-such-job"),
        ("subject", "grace", "nobody-at-all"),
    ] {
        if params.contains(&param) && !path.contains('{') {
            let real = format!("{path}{}{param}={real}", sep(path));
            let guess = format!("{path}{}{param}={guess}", sep(path));
            probe((real, None), (guess, None));
        }
    }
    out
}

/// Whether the OpenAPI document says only the operator token may call `op`.
fn operator_only(op: &Value) -> bool {
    op["description"]
        .as_str()
        .is_some_and(|d| d.contains("Operator token only"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_token_sees_only_its_tenant_on_every_endpoint() {
    let env = two_tenants_with_tokens();
    let d = Served::start_with(env, &[(GLOBEX_TOKEN_VAR, GLOBEX_TOKEN)]);
    let acme_run = run_people(&d, "acme").await;
    let globex_run = run_people(&d, "globex").await;
    let globex_runs = || async {
        d.ok("/runs?tenant=globex").await["runs"]
            .as_array()
            .unwrap()
            .len()
    };
    let globex_runs_before = globex_runs().await;
    let markers = ["globex", "grace", globex_run.as_str(), &globex_run[..8]];
    let pairs = pairs(&globex_run);

    let doc = d.ok("/openapi.json").await;
    let (mut walked, mut probed) = (0, 0);
    for (path, ops) in doc["paths"].as_object().unwrap() {
        if ["/health", "/openapi.json"].contains(&path.as_str()) {
            continue;
        }
        for (method, op) in ops.as_object().unwrap() {
            let method: Method = method.to_uppercase().parse().unwrap();
            walked += 1;
            // The operation as acme calls it without globex's names: fine,
            // but nothing of globex in the answer.
            if !path.contains('{') && op.get("requestBody").is_none() {
                let (status, body) = d
                    .request_as(method.clone(), path, Some(ACME_TOKEN), None)
                    .await;
                let text = body.to_string();
                assert!(
                    status.is_success(),
                    "{method} {path} with acme's token: {status} {text}"
                );
                for m in markers {
                    assert!(
                        !text.contains(m),
                        "{method} {path} shows acme {m:?}: {text}"
                    );
                }
            }
            for p in probes(path, &method, op, &globex_run) {
                probed += 1;
                let (rs, rb) = d
                    .request_as(
                        p.method.clone(),
                        &p.real.0,
                        Some(ACME_TOKEN),
                        p.real.1.as_ref(),
                    )
                    .await;
                let (gs, gb) = d
                    .request_as(
                        p.method.clone(),
                        &p.guess.0,
                        Some(ACME_TOKEN),
                        p.guess.1.as_ref(),
                    )
                    .await;
                let what = format!("{} {} (body {:?})", p.method, p.real.0, p.real.1);
                assert_eq!(rs, gs, "{what}: real {rb} vs guessed {gb}");
                assert_eq!(
                    normalized(&rb.to_string(), &pairs),
                    normalized(&gb.to_string(), &pairs),
                    "{what}: the answer tells a real name from a guessed one"
                );
                if rs.is_success() {
                    for m in markers {
                        assert!(!rb.to_string().contains(m), "{what} shows {m:?}: {rb}");
                    }
                } else if operator_only(op) && rs == StatusCode::FORBIDDEN {
                    // The operator's actions: refused alike for every name.
                } else {
                    assert_eq!(rs, StatusCode::NOT_FOUND, "{what}: {rb}");
                }
            }
        }
    }
    assert!(
        walked >= 17,
        "the OpenAPI document lists {walked} operations"
    );
    assert!(probed >= 21, "only {probed} cross-tenant probes were made");
    assert_eq!(
        globex_runs().await,
        globex_runs_before,
        "acme's token started a run of globex"
    );

    // Acme's token does see and run acme: the bare id is acme's job.
    let (status, job) = d.get_as("/jobs/people", Some(ACME_TOKEN)).await;
    assert_eq!(
        (status, &job["tenant"]),
        (StatusCode::OK, &json!("acme")),
        "{job}"
    );
    let (status, jobs) = d.get_as("/jobs", Some(ACME_TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(jobs.as_array().unwrap().len(), 1, "{jobs}");
    let (status, run) = d
        .get_as(&format!("/runs/{acme_run}"), Some(ACME_TOKEN))
        .await;
    assert_eq!(
        (status, &run["tenant_id"]),
        (StatusCode::OK, &json!("acme")),
        "{run}"
    );
    let (_, users) = d.get_as("/users", Some(ACME_TOKEN)).await;
    assert_eq!(users["total"], 2, "{users}");
    let (_, metrics) = d.get_as("/metrics", Some(ACME_TOKEN)).await;
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics
            .contains(r#"usersync_runs_total{tenant="acme",job="people",outcome="succeeded"} 1"#),
        "{metrics}"
    );
    // Globex's token, from its environment variable, sees globex.
    let (status, users) = d.get_as("/users", Some(GLOBEX_TOKEN)).await;
    assert_eq!(
        (status, &users["users"][0]["username"]),
        (StatusCode::OK, &json!("grace"))
    );
    // The operator still sees both; a tenant gets no health details.
    let (_, jobs) = d.get_as("/jobs", Some(TOKEN)).await;
    assert_eq!(jobs.as_array().unwrap().len(), 3, "{jobs}");
    let (_, health) = d.get_as("/health", Some(ACME_TOKEN)).await;
    assert!(health["details"].is_null(), "{health}");
    // Wrong and missing tokens keep their messages; no token is logged.
    let (status, err) = d.get_as("/jobs", Some("not-a-token-0123456789")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(err["error"], "the API token is not valid");
    let (status, _) = d.get_as("/jobs", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let log = d.log();
    for secret in [ACME_TOKEN, GLOBEX_TOKEN, TOKEN] {
        assert!(!log.contains(secret), "a token in the log");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_short_or_reused_tenant_token_stops_the_daemon_from_starting() {
    let env = two_tenants_with_tokens();
    std::fs::write(env.dir.path().join("acme.token"), "short\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_usersync"))
        .arg("-c")
        .arg(env.dir.path().join("usersync.toml"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("USERSYNC_API_TOKEN", TOKEN)
        .env(GLOBEX_TOKEN_VAR, TOKEN)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("tenants[1].token (tenant \"acme\") is too short"),
        "{stderr}"
    );
    assert!(!stderr.contains(TOKEN), "{stderr}");
}
