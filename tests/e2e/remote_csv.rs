//! The CSV connector fetching its file over HTTPS through the host, with
//! basic auth, a user match field and a manager column.

use cloud_servers::FileServer;
use usersync_host::sync::RunAgainIn;

use crate::cloud_env::{failure, remote_csv_job};

const PEOPLE: &str = "login,mail,boss,active,groups\n\
    ada,ada@example.com,,yes,Staff\n\
    grace,grace@example.com,ada,yes,Staff;Navy\n\
    alan,alan@example.com,ada,no,\n";

fn server() -> FileServer {
    let f = FileServer::start("sync", "pa55word");
    f.put("exports/people.csv", PEOPLE);
    f
}

fn granted(f: &FileServer) -> String {
    format!("\"{}\"", f.origin())
}

#[tokio::test]
async fn fetches_with_basic_auth_and_maps_match_field_and_manager() {
    let f = server();
    let env = remote_csv_job(&f, "pa55word", &granted(&f), true);
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded", "{:?}", report.run.message);
    assert_eq!(
        report.plan.counts().created,
        2,
        "alan is disabled, so not created"
    );
    let grace = env.user("grace").await;
    assert_eq!(
        grace.source_id.as_deref(),
        Some("grace"),
        "the match field is the id"
    );
    assert_eq!(
        grace.manager.as_deref(),
        Some("ada"),
        "manager column by match field"
    );
    assert_eq!(env.groups_of("grace").await, ["Navy", "Staff"]);
    assert_eq!(env.active().await, ["ada", "grace"]);

    f.put(
        "exports/people.csv",
        &PEOPLE.replace("grace,grace@", "grace,hopper@"),
    );
    env.sync().await.unwrap();
    assert_eq!(
        env.user("grace").await.email.as_deref(),
        Some("hopper@example.com")
    );
}

#[tokio::test]
async fn a_wrong_password_fails_clearly_and_deactivates_nobody() {
    let f = server();
    let env = remote_csv_job(&f, "pa55word", &granted(&f), true);
    env.sync().await.unwrap();
    env.edit(|doc| {
        doc["jobs"][0]["credentials"]["exports"]["password"]["value"] =
            toml::Value::String("guess".into());
    });
    let err = failure(env.sync().await);
    assert!(
        err.contains("HTTP 401") && err.contains("[jobs.credentials.exports]"),
        "{err}"
    );
    assert!(!err.contains("guess"), "{err}");
    assert_eq!(env.active().await, ["ada", "grace"]);
}

#[tokio::test]
async fn an_ungranted_url_is_refused_and_tls_is_verified() {
    let f = server();
    let other = FileServer::start("sync", "pa55word");
    let env = remote_csv_job(&f, "pa55word", &granted(&other), true);
    let err = failure(env.sync().await);
    assert!(
        err.contains(&format!("HTTP to {} is not granted", f.origin())),
        "{err}"
    );
    assert_eq!(f.requests(), 0);

    // Granted, but without the test CA the certificate is not trusted.
    let env = remote_csv_job(&f, "pa55word", &granted(&f), false);
    let err = failure(env.sync().await);
    assert!(err.contains("http_ca_file"), "{err}");
    assert_eq!(
        f.requests(),
        0,
        "no request was sent over an unverified connection"
    );
}

#[tokio::test]
async fn persistent_throttling_asks_for_a_later_run_and_deactivates_nobody() {
    let f = server();
    let env = remote_csv_job(&f, "pa55word", &granted(&f), true);
    env.sync().await.unwrap();
    f.throttle(100, 120); // longer than the host waits: the plugin decides
    let err = env.sync().await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<RunAgainIn>().map(|r| r.0),
        Some(120),
        "{err:#}"
    );
    assert!(format!("{err:#}").contains("throttling"), "{err:#}");
    assert_eq!(env.active().await, ["ada", "grace"]);
}

#[tokio::test]
async fn crlf_exports_cite_the_right_lines() {
    let f = server();
    // Grace's quoted note holds a line break (lines 3-4), so bob's short
    // row is on line 5, as an editor shows it.
    let crlf = "login,mail,boss,active,groups,note\r\n\
        ada,ada@example.com,,yes,Staff,\r\n\
        grace,grace@example.com,ada,yes,Staff,\"two\r\nlines\"\r\n\
        bob,bob@example.com\r\n";
    f.put("exports/people.csv", crlf);
    let env = remote_csv_job(&f, "pa55word", &granted(&f), true);
    let report = env.sync().await.unwrap();
    let errors: Vec<_> = report
        .plan
        .errors
        .iter()
        .map(|e| e.record.as_str())
        .collect();
    assert_eq!(errors, ["line 5"], "{:?}", report.plan.errors);
    let checks = env.test_connection().await;
    let sample = checks.iter().find(|c| c.stage == "sample").unwrap();
    assert!(
        sample.detail.contains("(first: line 5:"),
        "{}",
        sample.detail
    );
}
