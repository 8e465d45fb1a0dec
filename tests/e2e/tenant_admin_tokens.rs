//! A tenant token cannot manage tenants and gets the same 404 for another
//! tenant's names as for made-up ones; jobs are checked like the config
//! file; what the file defines answers 409; the CLI speaks to the same API.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::daemon_env::{Served, TOKEN};
use crate::tenant_admin_env::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_token_cannot_manage_tenants_and_sees_404_for_others() {
    let d = Served::start(managed_env());
    let acme = make_tenant(&d, "acme").await;
    make_tenant(&d, "globex").await;
    let forbidden = StatusCode::FORBIDDEN;
    let new = json!({"id": "initech"});
    let (status, err) = d
        .request_as(Method::POST, "/tenants", Some(&acme), Some(&new))
        .await;
    assert_eq!(status, forbidden, "{err}");
    for m in [Method::PATCH, Method::DELETE] {
        let (status, err) = d
            .request_as(
                m,
                "/tenants/acme",
                Some(&acme),
                Some(&json!({"disabled": true})),
            )
            .await;
        assert_eq!(status, forbidden, "{err}");
    }
    let patch = json!({"licenses": {"standard": 1}});
    same_for_real_and_guessed(
        &d,
        Method::PATCH,
        "/tenants/{t}",
        &acme,
        Some(&patch),
        StatusCode::NOT_FOUND,
    )
    .await;
    same_for_real_and_guessed(
        &d,
        Method::GET,
        "/tenants/{t}",
        &acme,
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    let job = json!({"connector": "csv"});
    same_for_real_and_guessed(
        &d,
        Method::PUT,
        "/tenants/{t}/jobs/people",
        &acme,
        Some(&job),
        StatusCode::NOT_FOUND,
    )
    .await;
    same_for_real_and_guessed(
        &d,
        Method::DELETE,
        "/tenants/{t}/plugins/csv",
        &acme,
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    let (_, list) = d.get_as("/tenants", Some(&acme)).await;
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["acme"], "{list}");

    // Its own jobs it manages, checked like the file: errors name the key.
    let own = "/tenants/acme/jobs/people";
    let (status, put) = d
        .request_as(
            Method::PUT,
            own,
            Some(&acme),
            Some(&json!({"connector": "csv"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{put}");
    for (body, says) in [
        (
            json!({"connector": "csv", "sync": {"max_rejected_percent": 400}}),
            "jobs.sync.max_rejected_percent",
        ),
        (json!({"connector": "csv", "sorce": {}}), "sorce"),
        (
            json!({"connector": "csv", "grants": {"input_dir": "../globex/data"}}),
            "outside this tenant's files",
        ),
        (
            json!({"connector": "csv", "secrets": {"api": "x"}}),
            "USERSYNC_SECRET_KEY",
        ),
        // No destination the operator did not list in [server] tenant_origins.
        (
            json!({"connector": "csv", "notify": {"webhook": "http://127.0.0.1:5432/"}}),
            "jobs.notify.webhook = \"http://127.0.0.1:5432/\": a job made through the API may only reach the origins in [server] tenant_origins",
        ),
        (
            json!({"connector": "csv", "grants": {"http": ["http://169.254.169.254"]}}),
            "jobs.grants.http",
        ),
    ] {
        let (status, err) = d
            .request_as(Method::PUT, own, Some(&acme), Some(&body))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert!(
            err["error"].as_str().unwrap().contains(says),
            "{body}: {err}"
        );
    }
    // What the config file defines is changed there.
    let (status, err) = d
        .request_as(
            Method::PUT,
            "/tenants/default/jobs/people",
            Some(TOKEN),
            Some(&job),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert!(
        err["error"].as_str().unwrap().contains("usersync.toml"),
        "{err}"
    );
    let (status, err) = d
        .request_as(Method::PATCH, "/tenants/default", Some(TOKEN), Some(&patch))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");

    // A new token replaces the old one at once; a disabled tenant's token is refused.
    let (status, t) = d
        .request_as(
            Method::PATCH,
            "/tenants/acme",
            Some(TOKEN),
            Some(&json!({"new_token": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    let fresh = t["token"].as_str().unwrap().to_string();
    assert_eq!(
        d.get_as("/jobs", Some(&acme)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(d.get_as("/jobs", Some(&fresh)).await.0, StatusCode::OK);
    d.request_as(
        Method::PATCH,
        "/tenants/acme",
        Some(TOKEN),
        Some(&json!({"disabled": true})),
    )
    .await;
    assert_eq!(
        d.get_as("/jobs", Some(&fresh)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = d
        .request_as(Method::DELETE, "/tenants/globex", Some(TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(d.get("/tenants/globex").await.0, StatusCode::NOT_FOUND);

    // The CLI speaks to the same API.
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_usersync"))
            .args(args)
            .args(["--server", &d.base])
            .env("USERSYNC_TOKEN", TOKEN)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        (
            out.status.success(),
            text + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = cli(&["tenants", "create", "initech", "--license", "standard=3"]);
    assert!(ok && out.contains("token (shown once"), "{out}");
    let (ok, out) = cli(&["--json", "tenants", "list"]);
    let list: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{ok} {out}"));
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["default", "acme", "initech"], "{out}");
    let (ok, out) = cli(&["tenants", "set", "default", "--disable"]);
    assert!(
        !ok && out.contains("409") && out.contains("usersync.toml"),
        "{out}"
    );
}
