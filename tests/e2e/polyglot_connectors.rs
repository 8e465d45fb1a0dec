//! Connectors in Python and JavaScript: examples/python-jsonl-connector
//! (reads the granted input folder), and examples/js-jsonl-connector and the
//! `plugins new --lang js --kind connector` template. The JavaScript engine
//! has no file API, so those fetch their JSON-lines file through the host's
//! brokered `http` import, here from a local HTTPS file server with a private
//! CA (tests/cloud-servers) and basic auth the host adds.

use cloud_servers::FileServer;
use serde_json::json;
use usersync_host::model::CheckStatus;

use crate::env::TestEnv;
use crate::polyglot::{line, polyglot, template, warm, write_jsonl};

const FILE: &str = "exports/people.jsonl";

/// A job reading FILE from `f` with `connector`, granted the server's origin
/// and trusting its CA; the plugin is installed as `<connector>.wasm`.
fn https_env(f: &FileServer, connector: &str, built: std::path::PathBuf) -> TestEnv {
    let env = TestEnv::new(
        &[("plugins", "default-mapper")],
        &format!(
            r#"connector = "{connector}"
mappers = ["default-mapper"]
[jobs.grants]
http = ["{origin}"]
http_ca_file = "ca.pem"
[jobs.credentials.exports]
type = "basic"
username = "sync"
password = {{ value = "pa55word" }}
[jobs.source]
url = "{origin}/{FILE}"
credential = "exports"
"#,
            origin = f.origin()
        ),
    );
    std::fs::write(env.dir.path().join("ca.pem"), cloud_servers::ca_pem()).unwrap();
    let to = env.dir.path().join(format!("plugins/{connector}.wasm"));
    std::fs::copy(built, to).unwrap();
    env
}

fn publish(f: &FileServer, lines: &[String]) {
    f.put(FILE, &(lines.join("\n") + "\n"));
}

const JAN: &str = "2026-01-01T00:00:00Z";
const FEB: &str = "2026-02-01T00:00:00Z";

#[tokio::test]
async fn js_jsonl_connector_fetches_over_https_then_reads_changes_and_deletions() {
    warm(polyglot("js-jsonl-connector")).await;
    let f = FileServer::start("sync", "pa55word");
    let env = https_env(&f, "jsonl-http", polyglot("js-jsonl-connector"));
    env.set_job("sync", json!({ "max_rejected_percent": 50 }));
    let ada = line("1", "ada", "ada@example.com", &["Staff", "Admins"], JAN);
    let grace = line("2", "grace", "grace@example.com", &["Staff"], JAN);
    let alan = line("3", "alan", "alan@example.com", &["Staff"], JAN);
    let bob = line("4", "bob", "bob@example.com", &[], JAN);
    publish(
        &f,
        &[
            ada.clone(),
            grace,
            "{not json".into(),
            r#"{"uid": "nobody"}"#.into(),
            alan,
            bob,
        ],
    );

    let checks = env.test_connection().await;
    let sample = checks.iter().find(|c| c.stage == "sample");
    assert!(
        sample.is_some_and(|s| s
            .detail
            .contains("4 users, 2 rejected (first: line 3: not JSON")),
        "{checks:?}"
    );

    // Full: every good line, each bad one rejected with its line number.
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded", "{:?}", report.run);
    assert_eq!(
        report.run.connector_version.as_deref(),
        Some("jsonl-http 0.1.0")
    );
    let c = report.plan.counts();
    assert_eq!(
        (c.created, c.groups_created, c.memberships_added),
        (4, 2, 4)
    );
    assert_bad_lines_rejected_by_number(&report);
    assert_eq!(env.groups_of("ada").await, ["Admins", "Staff"]);

    // The file changes: grace modified, linus added, alan marked deleted,
    // bob's line removed (only a full read can see a missing line).
    let grace = line("2", "grace", "grace.hopper@example.com", &["Staff"], FEB);
    let linus = line("5", "linus", "linus@example.com", &["Staff"], FEB);
    let alan = json!({ "id": "3", "uid": "alan", "deleted": true, "updated_at": FEB });
    publish(&f, &[ada, grace, alan.to_string(), linus]);
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded", "{:?}", report.run);
    assert_eq!(report.run.mode.as_str(), "incremental");
    assert_eq!(report.read.users, 2, "only grace and linus changed");
    let c = report.plan.counts();
    assert_eq!(
        (c.created, c.updated, c.deactivated),
        (1, 1, 1),
        "{:?}",
        report.plan
    );
    assert_eq!(
        env.user("grace").await.email.as_deref(),
        Some("grace.hopper@example.com")
    );
    assert_eq!(env.groups_of("linus").await, ["Staff"]);
    assert_eq!(env.active().await, ["ada", "bob", "grace", "linus"]);

    // The next full read sees bob's line gone; then nothing is left to do.
    let report = env.sync_full().await.unwrap();
    assert_eq!(report.run.mode.as_str(), "full");
    assert_eq!(report.plan.counts().deactivated, 1, "{:?}", report.plan);
    assert_eq!(env.active().await, ["ada", "grace", "linus"]);
    assert!(env.sync_full().await.unwrap().plan.is_noop());
    assert!(f.requests() >= 5, "every read fetched the file");
}

#[tokio::test]
async fn js_connector_template_syncs_through_the_host() {
    warm(template("js-connector")).await;
    let f = FileServer::start("sync", "pa55word");
    let env = https_env(&f, "template-js-connector", template("js-connector"));
    env.set_job("sync", json!({ "max_rejected_percent": 50 }));
    let ada = json!({ "id": 1, "uid": "ada", "givenName": "Ada", "sn": "Lovelace" });
    let grace = json!({ "id": 2, "uid": "grace", "mail": "grace@example.com" });
    publish(&f, &[ada.to_string(), grace.to_string(), "[1]".into()]);
    let checks = env.test_connection().await;
    let fetched = checks.iter().find(|c| c.stage == "fetch");
    assert!(
        fetched.is_some_and(|c| c.status == CheckStatus::Ok),
        "{checks:?}"
    );
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded", "{:?}", report.run);
    assert_eq!(report.plan.counts().created, 2);
    let errors = report.run.errors.clone().unwrap().to_string();
    assert!(errors.contains("line 3"), "{errors}");
    assert_eq!(
        env.user("grace").await.email.as_deref(),
        Some("grace@example.com")
    );

    // The credential comes from the job, not the plugin: a wrong one fails
    // the run with the template's hint and deactivates nobody.
    env.edit(|doc| {
        doc["jobs"][0]["credentials"]["exports"]["password"]["value"] =
            toml::Value::String("guess".into());
    });
    let err = format!("{:#}", env.sync().await.unwrap_err());
    assert!(err.contains("HTTP 401"), "{err}");
    assert_eq!(env.active().await, ["ada", "grace"]);
}

const JSONL_JOB: &str = r#"connector = "jsonl"
mappers = ["default-mapper"]
[jobs.grants]
input_dir = "data"
[jobs.source]
path = "/input/people.jsonl"
"#;

#[tokio::test]
async fn python_jsonl_connector_reads_full_then_incremental_and_rejects_bad_lines() {
    warm(polyglot("python-jsonl-connector")).await;
    let env = TestEnv::new(&[("plugins", "default-mapper")], JSONL_JOB);
    std::fs::copy(
        polyglot("python-jsonl-connector"),
        env.dir.path().join("plugins/jsonl.wasm"),
    )
    .unwrap();
    env.set_job("sync", json!({ "max_rejected_percent": 50 }));
    let ada = line(
        "1",
        "ada",
        "ada@example.com",
        &["Staff", "Admins"],
        "2026-01-01T00:00:00Z",
    );
    let grace = line(
        "2",
        "grace",
        "grace@example.com",
        &["Staff"],
        "2026-01-01T00:00:00Z",
    );
    let alan = line(
        "3",
        "alan",
        "alan@example.com",
        &["Staff"],
        "2026-01-01T00:00:00Z",
    );
    write_jsonl(
        &env,
        &[
            ada.clone(),
            grace,
            "{not json".into(),
            r#"{"uid": "nobody"}"#.into(),
            alan,
        ],
    );

    let checks = env.test_connection().await;
    let sample = checks.iter().find(|c| c.stage == "sample").unwrap();
    assert!(sample.detail.contains("3 users, 2 rejected"), "{checks:?}");

    // Full: every good line, each bad one rejected with its line number.
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded", "{:?}", report.run);
    assert_eq!(report.run.connector_version.as_deref(), Some("jsonl 0.1.0"));
    let c = report.plan.counts();
    assert_eq!(
        (c.created, c.groups_created, c.memberships_added),
        (3, 2, 4)
    );
    assert_bad_lines_rejected_by_number(&report);

    // Incremental: only the lines changed since the cursor, and a deletion.
    let grace = line(
        "2",
        "grace",
        "grace.hopper@example.com",
        &["Staff"],
        "2026-02-01T00:00:00Z",
    );
    let alan =
        json!({ "id": "3", "uid": "alan", "deleted": true, "updated_at": "2026-02-01T00:00:00Z" });
    write_jsonl(&env, &[ada, grace, alan.to_string()]);
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded", "{:?}", report.run);
    assert_eq!(report.run.mode.as_str(), "incremental");
    assert_eq!(report.read.users, 1, "only grace changed");
    let c = report.plan.counts();
    assert_eq!((c.updated, c.deactivated), (1, 1), "{:?}", report.plan);
    let users = env.host().await.store.users(None).await.unwrap();
    let grace = users.iter().find(|u| u.username == "grace").unwrap();
    assert_eq!(grace.email.as_deref(), Some("grace.hopper@example.com"));
    assert!(!users.iter().find(|u| u.username == "alan").unwrap().active);

    // A full read of the same file agrees with the incremental one.
    let report = env.sync_full().await.unwrap();
    assert_eq!(report.run.mode.as_str(), "full");
    assert!(report.plan.is_noop(), "{:?}", report.plan.counts());
}

/// Both JSON-lines connectors read the same fixture: its line 3 is not JSON
/// and its line 4 has no id, and each reject names its line.
fn assert_bad_lines_rejected_by_number(report: &usersync_host::sync::RunReport) {
    let errors = report.run.errors.clone().unwrap().to_string();
    assert!(errors.contains("people.jsonl line 3"), "{errors}");
    assert!(errors.contains("not JSON"), "{errors}");
    assert!(errors.contains("people.jsonl line 4"), "{errors}");
    assert!(
        errors.contains("no `id`: every line needs a unique id"),
        "{errors}"
    );
}
