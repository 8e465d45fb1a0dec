//! The admin console in a real browser: Debian's chromium, headless, driven
//! through chromedriver (see webdriver.rs). It signs in, runs a dry run and
//! a sync of a CSV job and watches the progress finish, opens a user's
//! audit trail, uploads a broken and then a good mapper, and checks that a
//! tenant token sees nothing of another tenant. Screenshots of each page
//! go to `target/console-screenshots/`.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::daemon_env::{Served, TOKEN};
use crate::env::built;
use crate::tenant_admin_env::{managed_env, KEY};
use crate::webdriver::{available, Browser};

/// `n` users for a tenant's CSV.
fn people(n: usize) -> String {
    let mut csv = String::from("id,uid,active,groups\n");
    for i in 1..=n {
        let group = if i % 2 == 0 { "Staff" } else { "Contractors" };
        csv.push_str(&format!("{i},user{i:05},true,{group}\n"));
    }
    csv
}

fn job() -> Value {
    json!({
        "connector": "csv",
        "mappers": ["default-mapper"],
        "grants": {"input_dir": "data"},
        "source": {"path": "/input/people.csv", "id_column": "id", "enabled_column": "active", "groups_column": "groups"},
        "sync": {"license_kind": "standard"},
        "schedule": "*/15 * * * *"
    })
}

/// Tenant `id` with its job `people`; its token.
async fn tenant(d: &Served, id: &str, users: usize) -> String {
    let files = d.env.dir.path().join("tenant-files").join(id).join("data");
    std::fs::write(files.join("people.csv"), people(users)).unwrap();
    let body = json!({"id": id, "licenses": {"standard": 20000}});
    let (status, t) = d
        .request_as(Method::POST, "/tenants", Some(TOKEN), Some(&body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    let token = t["token"].as_str().unwrap().to_string();
    let path = format!("/tenants/{id}/jobs/people");
    let (status, put) = d
        .request_as(Method::PUT, &path, Some(&token), Some(&job()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{put}");
    token
}

async fn sign_in(b: &Browser, base: &str, token: &str) {
    b.goto(&format!("{base}/console/login")).await;
    b.type_into("#token", token).await;
    b.click("button[type=submit]").await;
    b.find("nav[aria-label=Main]").await;
}

async fn sign_out(b: &Browser) {
    b.click(".signout button").await;
    b.find("#token").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_in_a_real_browser() {
    if !available() {
        // scripts/test.sh installs them (and sets this); a bare `cargo test` may not have.
        assert!(
            std::env::var_os("USERSYNC_REQUIRE_BROWSER").is_none(),
            "chromium and chromedriver are missing"
        );
        eprintln!("skipped: /usr/bin/chromium and /usr/bin/chromedriver are needed (apt-get install chromium chromium-driver)");
        return;
    }
    let started = std::time::Instant::now();
    let shots =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots");
    let _ = std::fs::remove_dir_all(shots);
    let d = Served::start_with(managed_env(), &[("USERSYNC_SECRET_KEY", KEY)]);
    let acme = tenant(&d, "acme", 20_000).await;
    let globex = tenant(&d, "globex", 3).await;
    let base = d.base.clone();
    let b = Browser::start().await;

    // Sign in: a wrong token is refused without echoing it; the right one
    // opens the jobs. The session cookie is HttpOnly and SameSite=Strict.
    b.goto(&format!("{base}/console/jobs")).await;
    b.find("#token").await;
    b.screenshot("01-sign-in").await;
    b.type_into("#token", "not-the-token-0123456789").await;
    b.click("button[type=submit]").await;
    b.wait_text("#login-error", "not valid").await;
    assert!(!b.source().await.contains("not-the-token-0123456789"));
    sign_in(&b, &base, TOKEN).await;
    let jobs = b.text("#jobs").await;
    assert!(jobs.contains("acme") && jobs.contains("globex"), "{jobs}");
    assert!(jobs.contains("every 15 minutes"), "{jobs}");
    assert!(!b.source().await.contains(TOKEN), "no token in the HTML");
    b.screenshot("02-jobs").await;
    let res = reqwest::get(format!("{base}/console/login")).await.unwrap();
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));

    // A dry run of acme's job: the diff, searchable and paged, with the
    // deletion threshold's verdict; nothing applied.
    b.goto(&format!("{base}/console/jobs/acme/people")).await;
    b.click("#btn-dry").await;
    b.wait_text("#outcome", "succeeded").await;
    b.wait_text("#verdict", "within the deletion threshold")
        .await;
    let count = b.text("#diff-count").await;
    assert!(count.contains("Rows 1–100 of"), "{count}");
    b.screenshot("03-dry-run-diff").await;
    b.type_into("#diff-q", "user00042").await;
    b.click("#diff form.search button").await;
    let rows = b.wait_text("#diff-table", "user00042").await;
    assert!(!rows.contains("user00043"), "{rows}");
    let (_, users) = d.get("/users?tenant=acme").await;
    assert_eq!(users["total"], 0, "a dry run applies nothing: {users}");

    // A real run: the run's page shows live progress, then the outcome.
    b.goto(&format!("{base}/console/jobs/acme/people")).await;
    b.click("#btn-run").await;
    let live = b.exists("#progress").await;
    if live {
        b.screenshot("04-run-progress").await;
    }
    b.wait_text("#outcome", "succeeded").await;
    assert!(!b.exists("#progress").await);
    let counts = b.text("#counts").await;
    assert!(counts.contains("20000 created"), "{counts}");
    b.screenshot("05-run-finished").await;
    eprintln!("the run's page showed live progress: {live}");

    // An edit the config checks refuse names the key; nothing is saved.
    b.goto(&format!("{base}/console/jobs/acme/people")).await;
    let mut bad = job();
    bad["sync"]["max_rejected_percent"] = json!(400);
    b.type_into("#job-json", &bad.to_string()).await;
    b.click("#btn-save").await;
    let refused = b.wait_text("#flash", "Not saved").await;
    assert!(refused.contains("sync.max_rejected_percent"), "{refused}");
    b.screenshot("06-job-edit-refused").await;

    // The test connection's stages.
    b.goto(&format!("{base}/console/jobs/acme/people")).await;
    b.click("#btn-test").await;
    b.wait_text("#test-verdict", "works").await;
    b.screenshot("06-test-connection-stages").await;

    // A user's page and audit trail.
    b.goto(&format!("{base}/console/users")).await;
    b.type_into("#q", "user00042").await;
    b.click("form.search button").await;
    b.click("#users a").await;
    let trail = b.text("#audit").await;
    assert!(trail.contains("user create"), "{trail}");
    assert!(b.text("#user-groups").await.contains("Staff"));
    b.screenshot("07-user-audit").await;
    b.click("#btn-deactivate").await;
    b.wait_text("#flash", "user00042 is deactivated").await;
    b.click("#btn-restore").await;
    b.wait_text("#flash", "user00042 is restored").await;

    // Upload a broken mapper (refused with the reason), then a good one.
    let broken = d.env.dir.path().join("broken-mapper.wasm");
    std::fs::write(&broken, b"\0asm\x01\0\0\0 not a component").unwrap();
    b.goto(&format!("{base}/console/plugins")).await;
    b.click("#up-tenant option[value=acme]").await;
    b.type_into("#up-name", "flip-mapper").await;
    b.type_into("#up-file", broken.to_str().unwrap()).await;
    b.click("#btn-upload").await;
    let refused = b.wait_text("#flash", "refused").await;
    assert!(refused.contains("nothing changed"), "{refused}");
    b.screenshot("08-upload-refused").await;
    let good = built("test-plugins", "flip-mapper").canonicalize().unwrap();
    b.click("#up-tenant option[value=acme]").await;
    b.type_into("#up-name", "flip-mapper").await;
    b.type_into("#up-file", good.to_str().unwrap()).await;
    b.click("#btn-upload").await;
    b.wait_text("#flash", "Accepted: flip-mapper").await;
    let start = std::time::Instant::now();
    while !b.text("#plugins").await.contains("tenant acme") {
        assert!(start.elapsed() < crate::webdriver::WAIT, "never served");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        b.goto(&format!("{base}/console/plugins")).await;
    }
    b.screenshot("09-plugins").await;

    // The mapper preview: acme's job as a dry run with a candidate mapper.
    let candidate = built("test-plugins", "flip-mapper-b")
        .canonicalize()
        .unwrap();
    b.click("#pv-job option[value='acme/people']").await;
    b.type_into("#pv-file", candidate.to_str().unwrap()).await;
    b.click("#btn-preview").await;
    let said = b.wait_text("#flash", "review").await;
    assert!(said.contains("Preview of the candidate mapper"), "{said}");
    b.find("#verdict").await;
    let mappers = b.text("dl.facts").await;
    assert!(mappers.contains("candidate"), "{mappers}");
    b.screenshot("09-mapper-preview").await;

    b.goto(&format!("{base}/console/licenses")).await;
    let seats = b.text("#licenses").await;
    assert!(seats.contains("20000"), "{seats}");
    b.screenshot("10-licenses").await;

    // A phone's width.
    b.resize(390, 844).await;
    b.goto(&format!("{base}/console/jobs")).await;
    b.screenshot("11-jobs-phone").await;
    b.resize(1280, 900).await;

    // globex's token: only globex, and acme's names are 404 like the API's.
    let acme_run = d.ok("/runs?tenant=acme").await["runs"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    sign_out(&b).await;
    sign_in(&b, &base, &globex).await;
    let jobs = b.text("#jobs").await;
    assert!(jobs.contains("globex") && !jobs.contains("acme"), "{jobs}");
    for page in [
        "/console/jobs/acme/people".to_string(),
        format!("/console/runs/{acme_run}"),
        "/console/users/acme/user00042".into(),
    ] {
        b.goto(&format!("{base}{page}")).await;
        let text = b.text("main").await;
        assert!(
            text.contains("Not Found") && !text.contains("user00042 ") && !text.contains("20000"),
            "{page}: {text}"
        );
    }
    b.goto(&format!("{base}/console/users?q=user")).await;
    let users = b.text("main").await;
    assert!(!users.contains("acme"), "{users}");
    b.goto(&format!("{base}/console/runs")).await;
    assert!(!b.text("main").await.contains("acme"));
    b.goto(&format!("{base}/console/plugins")).await;
    assert!(!b.text("main").await.contains("tenant acme"));
    b.screenshot("12-tenant-globex").await;

    // A forged form (no CSRF token) is refused.
    let res = reqwest::Client::new()
        .post(format!("{base}/console/jobs/globex/people/run"))
        .form(&[("mode", "run"), ("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert!(
        res.status() == StatusCode::SEE_OTHER || res.url().path() == "/console/login",
        "no session, no action: {}",
        res.status()
    );
    let log = d.log();
    assert!(
        !log.contains(TOKEN) && !log.contains(&globex) && !log.contains(&acme),
        "no token in the daemon's log"
    );
    b.quit().await;
    eprintln!("console browser test took {:?}", started.elapsed());
}
