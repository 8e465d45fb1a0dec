//! Every error the admin API gives is JSON `{"error": ...}`, also the ones
//! axum's extractors produce (415, 400 and 422 for request bodies) and bad
//! path segments, checked over real HTTP.

use reqwest::StatusCode;
use serde_json::Value;

use crate::daemon_env::{Served, TOKEN};
use crate::env::{TestEnv, CSV_SOURCE};

fn served() -> Served {
    let env = TestEnv::new(
        &[("plugins", "csv"), ("plugins", "default-mapper")],
        &format!("connector = \"csv\"\n[jobs.grants]\ninput_dir = \"data\"\n{CSV_SOURCE}"),
    );
    env.write_csv("id,uid,active,groups\n1,ada,true,Staff\n");
    Served::start(env)
}

/// Status, content type and body of a raw request.
async fn send(req: reqwest::RequestBuilder) -> (StatusCode, String, String) {
    let res = req.bearer_auth(TOKEN).send().await.unwrap();
    let status = res.status();
    let kind = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, kind, res.text().await.unwrap())
}

fn error_of(kind: &str, body: &str) -> String {
    assert!(kind.starts_with("application/json"), "{kind}: {body}");
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_string()
}

#[tokio::test]
async fn body_and_path_rejections_are_json_errors() {
    let d = served();
    let client = reqwest::Client::new();
    let url = d.url("/verify-password");

    // Not sent as JSON: 415, and how to send it.
    let (status, kind, body) = send(client.post(&url).body("job=people")).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let e = error_of(&kind, &body);
    assert!(e.contains("Content-Type: application/json"), "{e}");

    // Not JSON at all: 400.
    let (status, kind, body) = send(
        client
            .post(&url)
            .header("content-type", "application/json")
            .body("{not json"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    error_of(&kind, &body);

    // JSON of the wrong shape: 422, naming the field.
    let (status, kind, body) = send(
        client
            .post(&url)
            .json(&serde_json::json!({"job": "people", "username": "ada"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let e = error_of(&kind, &body);
    assert!(e.contains("password"), "{e}");

    // A path segment that is not UTF-8: axum's plain-text 400 becomes JSON.
    let (status, kind, body) = send(client.get(d.url("/runs/%FF"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    error_of(&kind, &body);
}
