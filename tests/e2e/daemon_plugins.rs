//! Hot reload of plugins in `usersync serve`: swap, refuse a bad file while
//! the previous version keeps serving, ignore temp files, remove; and the
//! hot-swap load test (100 swaps of the mapper while the job runs back to
//! back).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::daemon_env::{flip_env, Served};

/// The version of `plugin` that GET /plugins shows, if any.
fn served_version(plugins: &Value, plugin: &str) -> Option<String> {
    plugins["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == plugin)
        .map(|p| p["version"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn plugins_swap_refuse_bad_files_and_disappear_without_a_restart() {
    let mut d = Served::start(flip_env(3, ""));
    let run = d.run("people", "").await;
    assert_eq!(run["mapper_versions"], "flip-mapper 0.1.0-a");
    assert_eq!(d.ok("/users").await["users"][0]["display_name"], "a user1");

    // Swap: the next run uses the new version and the store follows it.
    d.install("test-plugins", "flip-mapper-b", "flip-mapper");
    d.wait_for("version b", "/plugins", |p| {
        served_version(p, "flip-mapper").as_deref() == Some("0.1.0-b")
    })
    .await;
    let run = d.run("people", "").await;
    assert_eq!(run["outcome"], "succeeded", "{run}");
    assert_eq!(run["mapper_versions"], "flip-mapper 0.1.0-b");
    assert_eq!(d.ok("/users").await["users"][0]["display_name"], "b user1");

    // A hidden temp file is never loaded, even a valid one.
    let plugins = d.env.dir.path().join("plugins");
    std::fs::copy(
        crate::env::built("test-plugins", "flip-mapper-a"),
        plugins.join(".flip-mapper.wasm.partial"),
    )
    .unwrap();
    // A broken file replacing the plugin: refused, visible, b keeps serving.
    std::fs::write(plugins.join(".broken.tmp"), b"\0asm garbage").unwrap();
    std::fs::rename(
        plugins.join(".broken.tmp"),
        plugins.join("flip-mapper.wasm"),
    )
    .unwrap();
    let listing = d
        .wait_for("the refusal", "/plugins", |p| {
            !p["refused"].as_array().unwrap().is_empty()
        })
        .await;
    let refused = &listing["refused"][0];
    assert!(refused["path"]
        .as_str()
        .unwrap()
        .ends_with("flip-mapper.wasm"));
    assert!(
        refused["reason"]
            .as_str()
            .unwrap()
            .contains("does not compile"),
        "{refused}"
    );
    assert_eq!(refused["still_serving"], "flip-mapper 0.1.0-b");
    let flip = listing["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "flip-mapper")
        .unwrap();
    assert_eq!(flip["version"], "0.1.0-b");
    assert!(flip["last_error"].is_string(), "{flip}");
    assert!(d.log().contains("flip-mapper 0.1.0-b keeps serving"));
    let run = d.run("people", "").await;
    assert_eq!(run["outcome"], "succeeded");
    assert_eq!(run["mapper_versions"], "flip-mapper 0.1.0-b");
    let files = listing["plugins"].as_array().unwrap().iter();
    assert_eq!(
        files.filter(|p| p["origin"] == "file").count(),
        2,
        "temp file loaded: {listing}"
    );
    let (_, metrics) = d.get("/metrics").await;
    assert!(metrics
        .as_str()
        .unwrap()
        .contains("usersync_plugin_load_failures_total 1"));
    assert_eq!(d.ok("/health").await["status"], "degraded");

    // Removing the plugin stops the runs that need it, with a clear error.
    std::fs::remove_file(plugins.join("flip-mapper.wasm")).unwrap();
    d.wait_for("the removal", "/plugins", |p| {
        served_version(p, "flip-mapper").is_none() && p["refused"].as_array().unwrap().is_empty()
    })
    .await;
    let failed = d.run("people", "").await;
    assert_eq!(failed["outcome"], "failed", "{failed}");
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.contains("mappers = \"flip-mapper\": no plugin with that name"),
        "{message}"
    );
    assert!(d.stop().success());
}

const SWAPS: usize = 100;

#[tokio::test(flavor = "multi_thread")]
async fn hot_swapping_the_mapper_100_times_under_load_fails_no_run() {
    let d = Arc::new(Served::start(flip_env(20, "")));

    // Run the job back to back: trigger whenever it is idle.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (d, stop) = (d.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut started, mut busy) = (0, 0);
            while !stop.load(Ordering::Relaxed) {
                match d.post("/jobs/people/run").await {
                    (StatusCode::ACCEPTED, _) => started += 1,
                    (StatusCode::CONFLICT, _) => busy += 1,
                    (status, body) => panic!("POST run: {status} {body}"),
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (started, busy)
        })
    };

    let mut latencies = Vec::with_capacity(SWAPS);
    let mut last_seen = String::new(); // started_at of the last run on the previous version
    for i in 0..SWAPS {
        let variant = if i.is_multiple_of(2) { "b" } else { "a" };
        let version = format!("flip-mapper 0.1.0-{variant}");
        let renamed_at = chrono::Utc::now();
        d.install(
            "test-plugins",
            &format!("flip-mapper-{variant}"),
            "flip-mapper",
        );
        // The first finished run on the new version.
        let runs = d
            .wait_for(
                &format!("a run on {version} (swap {i})"),
                "/runs?job=people&limit=100",
                |r| {
                    r["runs"].as_array().unwrap().iter().any(|run| {
                        run["mapper_versions"] == version.as_str()
                            && run["outcome"] != "running"
                            && run["started_at"].as_str().unwrap() > last_seen.as_str()
                    })
                },
            )
            .await;
        let first = runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .rev() // oldest first
            .find(|run| {
                run["mapper_versions"] == version.as_str()
                    && run["started_at"].as_str().unwrap() > last_seen.as_str()
            })
            .unwrap();
        let started = first["started_at"].as_str().unwrap();
        let started = chrono::DateTime::parse_from_rfc3339(started).unwrap();
        latencies.push((started.to_utc() - renamed_at).num_milliseconds().max(0));
        last_seen = first["started_at"].as_str().unwrap().to_string();
    }
    stop.store(true, Ordering::Relaxed);
    let (started, busy) = load.await.unwrap();
    let job = d
        .wait_for("the last run to end", "/jobs/people", |j| {
            j["status"] == "idle"
        })
        .await;
    let last = format!(
        "flip-mapper 0.1.0-{}",
        if SWAPS.is_multiple_of(2) { "a" } else { "b" }
    );

    // Every run succeeded and used exactly one mapper version.
    let mut runs = Vec::new();
    let mut offset = 0;
    loop {
        let page = d
            .ok(&format!("/runs?job=people&limit=1000&offset={offset}"))
            .await;
        runs.extend(page["runs"].as_array().unwrap().iter().cloned());
        match page["next_offset"].as_u64() {
            Some(next) => offset = next as usize,
            None => break,
        }
    }
    assert_eq!(runs.len(), started, "one record per accepted trigger");
    let failed: Vec<_> = runs
        .iter()
        .filter(|r| r["outcome"] != "succeeded")
        .collect();
    assert!(failed.is_empty(), "failed runs: {failed:?}");
    for r in &runs {
        let v = r["mapper_versions"].as_str().unwrap();
        assert!(
            v == "flip-mapper 0.1.0-a" || v == "flip-mapper 0.1.0-b",
            "a run names {v:?}"
        );
    }
    assert_eq!(runs[0]["mapper_versions"], last.as_str(), "{job}");

    // The store converged to the last version's mapping.
    let users = d.ok("/users").await;
    let prefix = format!("{} ", last.chars().last().unwrap());
    for u in users["users"].as_array().unwrap() {
        assert!(
            u["display_name"].as_str().unwrap().starts_with(&prefix),
            "{u} is not mapped by {last}"
        );
    }
    assert_eq!(users["total"], 20);

    latencies.sort_unstable();
    eprintln!(
        "hot swap under load: {SWAPS} swaps, {} runs ({busy} triggers answered \"already running\"), 0 failed; \
         rename -> first run on the new version: median {} ms, p90 {} ms, max {} ms",
        runs.len(),
        latencies[SWAPS / 2],
        latencies[SWAPS * 9 / 10],
        latencies[SWAPS - 1]
    );
    let mut d = Arc::into_inner(d).expect("the load task has ended");
    assert!(d.stop().success());
}
