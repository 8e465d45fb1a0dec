//! Tenants managed through the API: made, given jobs and plugins, changed
//! and deleted without touching the config file; secrets sealed at rest;
//! a tenant token that cannot manage tenants and sees 404 for others; and
//! a second `serve` process on the same store that serves all of it.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::daemon_env::{Served, PATIENCE, TOKEN};
use crate::env::{built, TestEnv};

pub const KEY: &str = "0101010101010101010101010101010101010101010101010101010101010101";
const SECRET: &str = "sealed-hr-api-secret-4711";
const PASSWORD: &str = "sealed-basic-password-0815";
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
macro_rules! eventually {
    ($what:expr, $d:expr, $cond:expr) => {{
        let start = Instant::now();
        while !$cond {
            if start.elapsed() > PATIENCE {
                panic!("timed out waiting for {}; log:\n{}", $what, $d.log());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
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

fn file_contains(path: &Path, needle: &str) -> bool {
    std::fs::read(path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
}

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

/// `method path` with `token` for globex's real name and a made-up one:
/// both answer `status`, with the same text but for the name.
async fn same_for_real_and_guessed(
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

/// The store URL of `env` made absolute, for a second node elsewhere.
fn shared_store_url(env: &TestEnv) -> String {
    let url = env.config().store.url;
    match url.strip_prefix("sqlite://") {
        Some(rel) if !rel.starts_with('/') => {
            format!("sqlite://{}", env.dir.path().join(rel).display())
        }
        _ => url,
    }
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
    two.wait_for("the job on node two", "/tenants/acme/jobs/people", |_| true)
        .await;
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
