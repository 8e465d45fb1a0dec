//! Several `usersync serve` nodes on one store: a job's lease is held by one
//! node at a time, renewed, released, and taken over once it lapses; racing
//! nodes get it once; a schedule slot runs once; run records name their
//! node; and a node killed with
//! SIGKILL mid-run loses its job to another node with nothing half-applied.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use usersync_host::engine::Plan;
use usersync_host::store::{ApplyContext, LeaseClaim, RunQuota, RunRecord, Slot, Store, Take};

use crate::daemon_env::{flip_env, Served, PATIENCE};
use crate::env::{usersync, TestEnv};

async fn store(env: &TestEnv) -> Store {
    Store::open(&env.config().store_url()).await.unwrap()
}

fn claim(node: &str, lease: Duration) -> LeaseClaim {
    LeaseClaim {
        node: node.into(),
        lease,
    }
}

fn running(id: &str, node: &str) -> RunRecord {
    RunRecord {
        node: Some(node.into()),
        ..crate::crash::running_record(id)
    }
}

const LONG: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread")]
async fn a_job_lease_is_held_by_one_node_renewed_released_and_taken_over_once_it_lapses() {
    let env = TestEnv::csv();
    let s = store(&env).await;
    let take = async |run: &str, c: &LeaseClaim| {
        s.take_lease("default", "people", run, c, None, RunQuota::default())
            .await
            .unwrap()
    };
    let (a, b) = (claim("node-a", LONG), claim("node-b", LONG));
    s.start_run(&running("r1", "node-a")).await.unwrap();
    assert_eq!(take("r1", &a).await, Take::Taken { abandoned: None });
    match take("r2", &b).await {
        Take::Held(h) => {
            assert_eq!(
                (h.node.as_str(), h.run_id.as_deref()),
                ("node-a", Some("r1"))
            );
            assert!(h.live);
        }
        other => panic!("node-b took a held lease: {other:?}"),
    }
    assert!(s.renew_lease("default", "people", "r1", &a).await.unwrap());
    assert!(
        !s.renew_lease("default", "people", "r1", &b).await.unwrap(),
        "only the holder renews"
    );

    // Released: the next node takes it, and no run was abandoned.
    s.release_lease("default", "people", "r1", "node-a")
        .await
        .unwrap();
    let short = claim("node-b", Duration::from_millis(300));
    s.start_run(&running("r2", "node-b")).await.unwrap();
    assert_eq!(take("r2", &short).await, Take::Taken { abandoned: None });

    // node-b stops renewing: once the lease lapses, node-a takes the job over.
    let deadline = Instant::now() + PATIENCE;
    let abandoned = loop {
        match take("r3", &a).await {
            Take::Taken { abandoned } => break abandoned,
            Take::Held(_) => assert!(Instant::now() < deadline, "the lease never lapsed"),
            other => panic!("{other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let abandoned = abandoned.expect("node-b's run was abandoned");
    assert_eq!(
        (abandoned.run_id.as_str(), abandoned.node.as_str()),
        ("r2", "node-b")
    );
    let r2 = s.run("r2").await.unwrap().unwrap();
    assert_eq!(r2.outcome, "interrupted");
    let message = r2.message.unwrap();
    assert!(
        message.contains("abandoned: node node-b stopped renewing the job's lease")
            && message.contains("run r3 on node node-a took the job over"),
        "{message}"
    );

    // The run that lost its lease can neither renew it nor apply anything.
    assert!(!s
        .renew_lease("default", "people", "r2", &short)
        .await
        .unwrap());
    let ctx = ApplyContext {
        tenant: "default".into(),
        job: "people".into(),
        run_id: "r2".into(),
        cursor: Some("never".into()),
        full: true,
        lease: Some(short.clone()),
        ..ApplyContext::default()
    };
    let err = s.apply(&mut Plan::default(), &ctx).await.unwrap_err();
    let err = format!("{err:#}");
    assert!(
        err.contains("lost the lease") && err.contains("node node-a holds it now for run r3"),
        "{err}"
    );
    let (cursor, _) = s.job_cursor("default", "people").await.unwrap();
    assert_eq!(cursor, None, "nothing of the run was applied");
}

/// A process killed after its run committed, before it let go of the
/// lease: the finished run holds nothing, so the job is free at once.
#[tokio::test(flavor = "multi_thread")]
async fn a_finished_runs_lease_holds_nothing_though_never_released() {
    let env = TestEnv::csv();
    let s = store(&env).await;
    let (a, b) = (claim("node-a", LONG), claim("node-b", LONG));
    let r1 = running("r1", "node-a");
    s.start_run(&r1).await.unwrap();
    let take = s.take_lease("default", "people", "r1", &a, None, RunQuota::default());
    assert_eq!(take.await.unwrap(), Take::Taken { abandoned: None });
    s.finish_run(&RunRecord {
        finished_at: Some("2026-01-01T00:00:01.000Z".into()),
        outcome: usersync_host::engine::RunOutcome::Succeeded,
        ..r1
    })
    .await
    .unwrap();
    let holder = s.lease_holder("default", "people").await.unwrap().unwrap();
    assert!(!holder.live, "{holder:?}");
    let r2 = running("r2", "node-b");
    let take = s.take_lease_starting(&r2, &b).await.unwrap();
    assert_eq!(take, Take::Taken { abandoned: None });
    assert!(
        s.run("r2").await.unwrap().is_some(),
        "the take records the run"
    );
    // Refused: nothing recorded.
    let r3 = running("r3", "node-a");
    let take = s.take_lease_starting(&r3, &a).await.unwrap();
    assert!(matches!(take, Take::Held(_)), "{take:?}");
    assert!(s.run("r3").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_racing_for_one_lease_get_it_once() {
    let env = TestEnv::csv();
    let s = store(&env).await;
    for round in 0..5 {
        let job = format!("race-{round}");
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let (s, job) = (s.clone(), job.clone());
                tokio::spawn(async move {
                    let c = claim(&format!("node-{}", i % 4), LONG);
                    let run = format!("run-{round}-{i}");
                    let take = s
                        .take_lease("default", &job, &run, &c, None, RunQuota::default())
                        .await;
                    (run, take.unwrap())
                })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            let (run, take) = t.await.unwrap();
            match take {
                Take::Taken { abandoned } => {
                    assert_eq!(abandoned, None);
                    winners.push(run);
                }
                Take::Held(h) => assert!(h.live && h.run_id.is_some(), "{h:?}"),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        let holder = s.lease_holder("default", &job).await.unwrap().unwrap();
        assert_eq!(holder.run_id.as_deref(), Some(winners[0].as_str()));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_slot_runs_once_across_nodes() {
    let env = TestEnv::csv();
    let s = store(&env).await;
    let slot = |at| Some(Slot { at, floor: at });
    let (t1, t2) = ("2026-01-01T10:00:00.000Z", "2026-01-01T10:15:00.000Z");
    let take = async |run: &str, node: &str, at| {
        let c = claim(node, LONG);
        let taken = s
            .take_lease("default", "people", run, &c, slot(at), RunQuota::default())
            .await;
        s.release_lease("default", "people", run, node)
            .await
            .unwrap();
        taken.unwrap()
    };
    assert_eq!(
        take("a1", "node-a", t1).await,
        Take::Taken { abandoned: None }
    );
    // node-b reaches the same slot after node-a's run ended: already done.
    assert_eq!(
        take("b1", "node-b", t1).await,
        Take::SlotDone {
            last_slot: t1.into()
        }
    );
    assert_eq!(
        take("b2", "node-b", t2).await,
        Take::Taken { abandoned: None }
    );
    assert!(matches!(
        take("a2", "node-a", t2).await,
        Take::SlotDone { .. }
    ));
    // Runs outside the schedule (API, retries) are not slots.
    let c = claim("node-a", LONG);
    let manual = s
        .take_lease("default", "people", "a3", &c, None, RunQuota::default())
        .await;
    assert_eq!(manual.unwrap(), Take::Taken { abandoned: None });
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_record_names_the_node_that_ran_it() {
    let env = TestEnv::csv();
    env.edit(|doc| {
        let mut server = toml::Table::new();
        server.insert("node".into(), "node-x".into());
        doc.insert("server".into(), server.into());
    });
    env.write_csv(
        "id,uid,givenName,sn,mail,active,groups\n1,ada,Ada,L,ada@example.com,true,Staff\n",
    );
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.node.as_deref(), Some("node-x"));
    let run = env.last_run().await;
    assert_eq!(run.node.as_deref(), Some("node-x"));

    let config = env.dir.path().join("usersync.toml");
    let config = config.to_str().unwrap();
    let (ok, text) = usersync(&["-c", config, "runs", "show", &run.id]);
    assert!(ok && text.contains("node: node-x"), "{text}");
    let (ok, text) = usersync(&["-c", config, "--json", "runs", "show", &run.id]);
    let shown: Value = serde_json::from_str(&text).unwrap_or_default();
    assert!(ok && shown["node"] == "node-x", "{text}");
}

/// Another node on `base`'s store: its own folder, config and plugins,
/// named `node`.
pub fn node_env(base: &TestEnv, node: &str) -> TestEnv {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    for f in std::fs::read_dir(base.dir.path().join("plugins")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), plugins.join(f.file_name())).unwrap();
    }
    std::fs::copy(
        base.dir.path().join("usersync.toml"),
        dir.path().join("usersync.toml"),
    )
    .unwrap();
    let env = TestEnv { dir };
    env.set_store_url(&base.config().store_url());
    set_node(&env, node);
    env
}

/// `[server]` of a node in these tests: short leases, so failover is quick.
pub fn set_node(env: &TestEnv, node: &str) {
    let node = node.to_string();
    env.edit(|doc| {
        let mut server = toml::Table::new();
        server.insert("lease_seconds".into(), 4.into());
        server.insert("lease_heartbeat_seconds".into(), 1.into());
        server.insert("node".into(), node.into());
        doc.insert("server".into(), server.into());
    });
}

/// A job whose run maps for seconds (`users` at `delay_ms` each).
pub fn slow_env(users: usize, delay_ms: u64) -> TestEnv {
    let env = flip_env(users, "");
    env.set_job("mapping", json!({ "flip_delay_ms": delay_ms }));
    env.edit(|doc| {
        doc["limits"]["cpu_seconds"] = toml::Value::Float(120.0);
    });
    env
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_killed_mid_run_loses_its_job_to_another_node_with_nothing_half_applied() {
    let base = slow_env(40, 100);
    set_node(&base, "node-a");
    let env_b = node_env(&base, "node-b");
    let a = Served::start(base);
    let b = Served::start(env_b);

    let (status, started) = a.post("/jobs/people/run").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let ra = started["run_id"].as_str().unwrap().to_string();
    b.wait_for("node-a's run to be recorded", &format!("/runs/{ra}"), |r| {
        r["outcome"] == "running" && r["node"] == "node-a"
    })
    .await;
    // node-b refuses a run while node-a holds the job, naming both.
    let (status, refused) = b.post("/jobs/people/run").await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    let error = refused["error"].as_str().unwrap();
    assert!(
        error.contains("node node-a") && error.contains(&ra),
        "{error}"
    );

    a.signal("KILL");
    let runs = b
        .wait_for("node-b to take the job over", "/runs?job=people", |r| {
            r["runs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["node"] == "node-b" && r["outcome"] == "succeeded")
        })
        .await;
    let rb = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["node"] == "node-b")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let run_a = b.ok(&format!("/runs/{ra}")).await;
    assert_eq!(run_a["outcome"], "interrupted", "{run_a}");
    let message = run_a["message"].as_str().unwrap();
    assert!(
        message.starts_with("abandoned: node node-a stopped renewing the job's lease")
            && message.contains(&format!("run {rb} on node node-b took the job over")),
        "{message}"
    );
    // The job's last run is set once the run has finished, just after its
    // record was committed: wait for it rather than read it once.
    b.wait_for("node-b's job to show the takeover", "/jobs/people", |j| {
        j["last_run"]["trigger"] == "takeover"
    })
    .await;
    let metrics = b.ok("/metrics").await;
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains(r#"usersync_lease_takeovers_total{tenant="default",job="people"} 1"#)
            && metrics.contains(r#"usersync_node_info{node="node-b""#),
        "{metrics}"
    );

    // Only node-b's run wrote anything: every audit event is its own.
    let s = store(&b.env).await;
    let users = s.users(None).await.unwrap();
    assert_eq!(users.len(), 40);
    let events = s
        .audit(&usersync_host::store::AuditFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!events.is_empty());
    assert!(
        events
            .iter()
            .all(|e| e.run_id.as_deref() == Some(rb.as_str())),
        "events of another run: {:?}",
        events.iter().map(|e| &e.run_id).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_on_an_interval_job_never_run_it_at_once() {
    let base = flip_env(5, "interval_seconds = 1");
    base.set_job("mapping", json!({ "flip_delay_ms": 100 }));
    set_node(&base, "node-a");
    let env_b = node_env(&base, "node-b");
    let mut a = Served::start(base);
    let mut b = Served::start(env_b);
    a.wait_for("six finished runs", "/runs?job=people", |r| {
        let runs = r["runs"].as_array().unwrap();
        runs.iter().filter(|r| r["outcome"] != "running").count() >= 6
    })
    .await;
    assert!(a.stop().success() && b.stop().success());

    let s = store(&a.env).await;
    let mut runs = s.runs(None, Some("people"), 1000).await.unwrap();
    runs.sort_by(|x, y| x.started_at.cmp(&y.started_at));
    for pair in runs.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        let ended = before.finished_at.as_deref().unwrap_or("9999");
        assert!(
            after.started_at.as_str() >= ended,
            "two runs at once: {} on {:?} ({}..{ended}) and {} on {:?} from {}",
            before.id,
            before.node,
            before.started_at,
            after.id,
            after.node,
            after.started_at
        );
    }
    assert!(
        runs.iter()
            .all(|r| r.outcome == "succeeded" || r.outcome == "cancelled"),
        "{runs:?}"
    );
}
