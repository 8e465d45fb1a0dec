//! The agent protocol spoken by hand to a real `usersync serve` over HTTPS:
//! enrolment codes are one-time, an agent of tenant acme can neither take
//! nor feed nor end globex's run (the same 404 as a made-up run), batches
//! are taken once and in order, bodies are bounded, and a revoked
//! credential is refused at once.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::agent_env::{enrolment_code, finished, protocol_client, serve_tls, trigger};
use crate::daemon_env::Served;
use crate::env::TestEnv;

/// Tenants acme and globex, each with the agent job `people`.
fn two_tenants() -> TestEnv {
    let env = TestEnv::new(
        &[("plugins", "ldap"), ("plugins", "default-mapper")],
        "tenant = \"acme\"\nconnector = \"ldap\"\nruns_on = \"agent\"\n",
    );
    env.edit(|doc| {
        let tenants = doc["tenants"].as_array_mut().unwrap();
        for id in ["acme", "globex"] {
            let mut t = toml::Table::new();
            t.insert("id".into(), id.into());
            tenants.push(toml::Value::Table(t));
        }
        let jobs = doc["jobs"].as_array_mut().unwrap();
        let mut globex = jobs[0].as_table().unwrap().clone();
        globex.insert("tenant".into(), "globex".into());
        jobs.push(toml::Value::Table(globex));
    });
    serve_tls(&env);
    env
}

struct Proto {
    client: reqwest::Client,
    base: String,
}

impl Proto {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        credential: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, format!("{}/agent/v1{path}", self.base));
        if let Some(c) = credential {
            req = req.bearer_auth(c);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, credential: &str, body: &Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(credential), Some(body))
            .await
    }

    async fn enrol(&self, code: &str, name: &str) -> (StatusCode, Value) {
        let body = json!({"code": code, "name": name, "version": "test"});
        self.call(reqwest::Method::POST, "/enroll", None, Some(&body))
            .await
    }

    async fn poll(&self, credential: &str) -> (StatusCode, Value) {
        let body = json!({"jobs": ["people"], "version": "test", "wait_seconds": 1});
        self.post("/work", credential, &body).await
    }
}

fn users_batch(uid: &str) -> Value {
    json!({"calls": [{"call": "users", "objects": [
        {"id": uid, "enabled": true, "attributes": [{"name": "uid", "values": [{"t": uid}]}]}
    ]}]})
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_reaches_only_its_tenants_runs_and_a_revoked_one_nothing() {
    let d = Served::start(two_tenants());
    let p = Proto {
        client: protocol_client(d.env.dir.path()),
        base: d.base.clone(),
    };
    let acme_code = enrolment_code(&d, "acme").await;
    let (status, acme) = p.enrol(&acme_code, "acme-agent").await;
    assert_eq!(status, StatusCode::OK, "{acme}");
    assert_eq!(acme["tenant"], "acme");
    let (status, again) = p.enrol(&acme_code, "second-try").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a code works once: {again}"
    );
    // A code may limit its agent to some of the tenant's agent jobs.
    let (status, b) = d.post("/tenants/acme/agents/enrollments?jobs=nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{b}");
    let (status, narrow) = d.post("/tenants/acme/agents/enrollments?jobs=people").await;
    assert_eq!(status, StatusCode::CREATED, "{narrow}");
    let (status, _) = p.enrol(narrow["code"].as_str().unwrap(), "narrow").await;
    assert_eq!(status, StatusCode::OK);
    let listed = d.ok("/tenants/acme/agents").await;
    let narrow = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "narrow")
        .unwrap();
    assert_eq!(narrow["allowed_jobs"], json!(["people"]), "{listed}");

    let globex_code = enrolment_code(&d, "globex").await;
    let (_, globex) = p.enrol(&globex_code, "globex-agent").await;
    let a = acme["credential"].as_str().unwrap();
    let g = globex["credential"].as_str().unwrap();

    // Globex's run is offered: acme's agent is never given it.
    let started = trigger(&d, "globex").await;
    let (status, work) = p.poll(a).await;
    assert_eq!(
        (status, &work["work"]),
        (StatusCode::OK, &Value::Null),
        "{work}"
    );
    let (_, work) = p.poll(g).await;
    let run = work["work"]["run_id"]
        .as_str()
        .expect("globex's agent gets it");
    assert_eq!(run, started["run_id"].as_str().unwrap());
    assert_eq!(work["work"]["tenant"], "globex");

    // Acme's agent cannot feed, beat or end it: the same 404 as a made-up run.
    let made_up = "0badc0de-0000-4000-8000-000000000000";
    for r in [run, made_up] {
        let (s1, b1) = p
            .post(&format!("/runs/{r}/batches/0"), a, &users_batch("mallory"))
            .await;
        let (s2, _) = p.post(&format!("/runs/{r}/beat"), a, &json!({})).await;
        let fin = json!({"batches": 0, "outcome": {"result": "ok", "users": 0, "groups": 0, "complete": true}});
        let (s3, _) = p.post(&format!("/runs/{r}/finish"), a, &fin).await;
        assert_eq!(
            (s1, s2, s3),
            (
                StatusCode::NOT_FOUND,
                StatusCode::NOT_FOUND,
                StatusCode::NOT_FOUND
            ),
            "{b1}"
        );
        assert_eq!(
            b1["error"].as_str().unwrap().replace(r, "RUN"),
            "no run RUN for this agent: it ended, was given up, or is not this agent's"
        );
    }

    // Batches are taken once and in order; bodies are bounded.
    let (status, b) = p
        .post(&format!("/runs/{run}/batches/0"), g, &users_batch("grace"))
        .await;
    assert_eq!(
        (status, &b["duplicate"]),
        (StatusCode::OK, &json!(false)),
        "{b}"
    );
    let (status, b) = p
        .post(&format!("/runs/{run}/batches/0"), g, &users_batch("grace"))
        .await;
    assert_eq!(
        (status, &b["duplicate"]),
        (StatusCode::OK, &json!(true)),
        "{b}"
    );
    let (status, b) = p
        .post(&format!("/runs/{run}/batches/5"), g, &users_batch("gap"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{b}");
    let huge = json!({"calls": [{"call": "warn", "message": "x".repeat(300 * 1024)}]});
    let (status, b) = p.post(&format!("/runs/{run}/batches/1"), g, &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{b}");
    let (status, _) = p
        .post(
            "/work",
            g,
            &json!({"jobs": [], "version": "x", "wait_seconds": 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Revoked: refused at once; the run is given up with nothing applied.
    let agents = d.ok("/tenants/globex/agents").await;
    let id = agents[0]["id"].as_str().unwrap();
    let (status, _) = d
        .request_as(
            reqwest::Method::DELETE,
            &format!("/tenants/globex/agents/{id}"),
            Some(crate::daemon_env::TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, b) = p
        .post(&format!("/runs/{run}/batches/1"), g, &users_batch("late"))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{b}");
    assert_eq!(p.poll(g).await.0, StatusCode::UNAUTHORIZED);
    let ended = finished(&d, "globex", &started).await;
    assert_eq!(ended["outcome"], "failed", "{ended}");
    assert!(
        ended["message"].as_str().unwrap().contains("abandoned"),
        "{ended}"
    );
    assert_eq!(d.ok("/users?tenant=globex").await["total"], 0);

    // Acme's agent still works; no secret reached the log.
    assert_eq!(p.poll(a).await.0, StatusCode::OK);
    let log = d.log();
    for secret in [a, g, acme_code.as_str(), globex_code.as_str()] {
        assert!(!log.contains(secret), "a secret in the log");
    }
}
