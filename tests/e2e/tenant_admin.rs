//! Tenants managed through the API: made, given jobs and plugins, changed
//! and deleted without touching the config file; secrets sealed at rest;
//! a tenant token that cannot manage tenants and sees 404 for others; and
//! a second `serve` process on the same store that serves all of it.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::daemon_env::{Served, TOKEN};
use crate::env::{built, TestEnv};
use crate::eventually;
use crate::tenant_admin_env::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_made_through_the_api_runs_its_own_csv_job_with_a_sealed_secret() {
    let d = Served::start_with(managed_env(), &[("USERSYNC_SECRET_KEY", KEY)]);
    let mut seen = Seen::default();
    let acme = make_tenant(&d, "acme").await;
    let path = "/tenants/acme/jobs/people";
    let (status, put) = seen
        .call(
            &d,
            Method::PUT,
            path,
            &acme,
            Some(&csv_job(&["default-mapper"])),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{put}");
    assert_eq!(put["job"]["secrets"]["hr_api"], "(set)", "{put}");
    assert_eq!(put["job"]["credentials"]["hr"]["password"], "(set)");
    let files = d.env.dir.path().join("tenant-files/acme/data");
    assert_eq!(
        put["job"]["grants"]["input_dir"],
        files.display().to_string()
    );

    // The job is served at once, runs with the tenant's token, and its
    // users are the tenant's.
    let run = run_people(&d, "acme", &acme).await;
    assert_eq!(run["outcome"], "succeeded", "{run}");
    let (_, users) = seen.call(&d, Method::GET, "/users", &acme, None).await;
    assert_eq!(users["total"], 2, "{users}");
    let (_, tenant) = seen
        .call(&d, Method::GET, "/tenants/acme", &acme, None)
        .await;
    assert_eq!(tenant["jobs"], json!(["people"]), "{tenant}");
    assert_eq!(tenant["has_token"], true);

    // Sent back as "(set)", a secret keeps its value; env: is refused.
    let mut again = csv_job(&["default-mapper"]);
    again["secrets"]["hr_api"] = json!("(set)");
    again["credentials"]["hr"]["password"] = json!("(set)");
    let (status, put) = seen.call(&d, Method::PUT, path, TOKEN, Some(&again)).await;
    assert_eq!(status, StatusCode::OK, "{put}");
    let mut env_ref = csv_job(&["default-mapper"]);
    env_ref["secrets"]["hr_api"] = json!("env:USERSYNC_SECRET_KEY");
    let (status, err) = seen
        .call(&d, Method::PUT, path, &acme, Some(&env_ref))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("jobs.secrets.hr_api"),
        "{err}"
    );

    // At rest: sealed, and it opens to the value with the key, for this
    // tenant and job only.
    let host = d.env.host().await;
    let managed = host.store.managed().await.unwrap();
    let body = &managed.jobs[0].body;
    assert!(body.contains("sealed") && !body.contains(SECRET) && !body.contains(PASSWORD));
    let key = usersync_host::secret::seal::SealKey::parse(KEY).unwrap();
    let (merged, _) = usersync_host::daemon::managed::merge(&d.env.config(), &managed, Some(&key));
    let job = merged.jobs.iter().find(|j| j.tenant == "acme").unwrap();
    assert_eq!(job.secrets["hr_api"].reveal().unwrap(), SECRET);
    assert_eq!(
        job.credentials["hr"]
            .password
            .as_ref()
            .unwrap()
            .reveal()
            .unwrap(),
        PASSWORD
    );
    let stolen: Value = serde_json::from_str(body).unwrap();
    let opened = usersync_host::secret::sealed_job::open(Some(&key), "globex", "people", &stolen);
    assert!(
        opened.is_err(),
        "a row copied to another tenant must not open"
    );
    drop(host);

    for file in ["usersync.db", "usersync.db-wal"] {
        let path = d.env.dir.path().join(file);
        for s in [SECRET, PASSWORD] {
            assert!(!file_contains(&path, s), "{s} in {file}");
        }
    }
    let log = d.log();
    for s in [SECRET, PASSWORD, KEY, acme.as_str()] {
        assert!(!log.contains(s), "{s} in the log");
    }
    for answer in &seen.0 {
        for s in [SECRET, PASSWORD, KEY] {
            assert!(!answer.contains(s), "{s} in an answer: {answer}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_uploaded_plugin_is_checked_like_a_folder_file_and_serves_only_its_tenant() {
    let d = Served::start_with(managed_env(), &[("USERSYNC_SECRET_KEY", KEY)]);
    let acme = make_tenant(&d, "acme").await;
    let globex = make_tenant(&d, "globex").await;
    for (t, token) in [("acme", &acme), ("globex", &globex)] {
        let job = csv_job(&["default-mapper", "flip-mapper"]);
        let (status, put) = d
            .request_as(
                Method::PUT,
                &format!("/tenants/{t}/jobs/people"),
                Some(token),
                Some(&job),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{put}");
    }
    let (dr, acme_token) = (&d, acme.as_str());
    let upload = move |name: &str, bytes: Vec<u8>| {
        let path = format!("/tenants/acme/plugins/{name}");
        async move {
            dr.request_bytes(Method::PUT, &path, acme_token, bytes)
                .await
        }
    };
    let a = std::fs::read(built("test-plugins", "flip-mapper-a")).unwrap();
    let (status, up) = upload("flip-mapper", a).await;
    assert_eq!(status, StatusCode::OK, "{up}");
    assert_eq!(up["version"], "0.1.0-a", "{up}");
    let file = d
        .env
        .dir
        .path()
        .join("plugins/tenants/acme/flip-mapper.uploaded.wasm");
    eventually!("acme's flip-mapper to be served", d, {
        tenant_plugin(&d, &acme, "acme", "flip-mapper")
            .await
            .is_some()
    });
    assert!(file.exists());
    assert!(tenant_plugin(&d, &globex, "acme", "flip-mapper")
        .await
        .is_none());

    let run = run_people(&d, "acme", &acme).await;
    assert_eq!(run["outcome"], "succeeded", "{run}");
    let (_, users) = d.get_as("/users", Some(&acme)).await;
    assert_eq!(users["users"][0]["display_name"], "a ada", "{users}");
    let run = run_people(&d, "globex", &globex).await;
    assert_eq!(run["outcome"], "failed", "globex has no flip-mapper: {run}");

    // Refused with the reason; the version served before keeps serving.
    let (status, err) = upload("flip-mapper", b"\0asm garbage".to_vec()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let reason = err["error"].as_str().unwrap();
    assert!(
        reason.contains("does not compile") && reason.contains("keeps serving"),
        "{err}"
    );
    let b = std::fs::read(built("test-plugins", "flip-mapper-b")).unwrap();
    let (status, err) = upload("other-name", b.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert!(
        err["error"].as_str().unwrap().contains("\"flip-mapper\""),
        "{err}"
    );
    let served = tenant_plugin(&d, &acme, "acme", "flip-mapper")
        .await
        .unwrap();
    assert_eq!(served["version"], "0.1.0-a", "{served}");

    // A new version is hot-swapped; DELETE stops serving it.
    let (status, up) = upload("flip-mapper", b).await;
    assert_eq!(status, StatusCode::OK, "{up}");
    eventually!("version b", d, {
        tenant_plugin(&d, &acme, "acme", "flip-mapper")
            .await
            .is_some_and(|p| p["version"] == "0.1.0-b")
    });
    let (status, _) = d
        .request_as(
            Method::DELETE,
            "/tenants/acme/plugins/flip-mapper",
            Some(&acme),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    eventually!("the plugin to go", d, {
        tenant_plugin(&d, &acme, "acme", "flip-mapper")
            .await
            .is_none()
    });
    assert!(!file.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_node_serves_api_tenants_and_notices_their_changes() {
    let first = managed_env();
    let (store, files) = (
        shared_store_url(&first),
        first.dir.path().join("tenant-files"),
    );
    let second = TestEnv::csv();
    let files = files.display().to_string();
    second.set_store_url(&store);
    second.edit(|doc| {
        doc.insert(
            "server".into(),
            toml::Value::Table(toml::toml! { tenant_files_dir = files }),
        );
    });
    let one = Served::start_with(first, &[("USERSYNC_SECRET_KEY", KEY)]);
    let two = Served::start_with(second, &[("USERSYNC_SECRET_KEY", KEY)]);

    let acme = make_tenant(&one, "acme").await;
    let job = csv_job(&["default-mapper"]);
    let (status, _) = one
        .request_as(
            Method::PUT,
            "/tenants/acme/jobs/people",
            Some(&acme),
            Some(&job),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // At once: node two catches up with the store when a request names a
    // tenant, job or token it does not know yet (no wait for its poll).
    let (status, shown) = two.get_as("/tenants/acme/jobs/people", Some(&acme)).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    // Node two knows the token and opens the sealed secrets to run the job.
    let run = run_people(&two, "acme", &acme).await;
    assert_eq!(run["outcome"], "succeeded", "{run}");

    let patch = json!({"licenses": {"standard": 7}});
    let (status, _) = one
        .request_as(Method::PATCH, "/tenants/acme", Some(TOKEN), Some(&patch))
        .await;
    assert_eq!(status, StatusCode::OK);
    two.wait_for("the new licenses on node two", "/tenants/acme", |t| {
        t["licenses"]["standard"] == 7
    })
    .await;

    // An upload through node one reaches node two's plugins folder, a
    // folder that did not exist before (the watcher must see the file in it).
    let a = std::fs::read(built("test-plugins", "flip-mapper-a")).unwrap();
    let (status, up) = one
        .request_bytes(Method::PUT, "/tenants/acme/plugins/flip-mapper", &acme, a)
        .await;
    assert_eq!(status, StatusCode::OK, "{up}");
    eventually!("the plugin on node two", two, {
        tenant_plugin(&two, &acme, "acme", "flip-mapper")
            .await
            .is_some()
    });

    let (status, _) = one
        .request_as(Method::DELETE, "/tenants/acme", Some(TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    eventually!("the tenant to go from node two", two, {
        two.get("/tenants/acme").await.0 == StatusCode::NOT_FOUND
    });
    assert_eq!(
        two.get_as("/jobs", Some(&acme)).await.0,
        StatusCode::UNAUTHORIZED
    );
    eventually!("the plugin file to go from node two", two, {
        !two.env
            .dir
            .path()
            .join("plugins/tenants/acme/flip-mapper.uploaded.wasm")
            .exists()
    });
}
