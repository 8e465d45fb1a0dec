//! Hostile plugins fail their own run with a clear error; the host and the
//! next run carry on.

use crate::env::{TestEnv, CSV_SOURCE};

fn mapper_env(mode: &str) -> TestEnv {
    let env = TestEnv::new(
        &[("plugins", "csv"), ("test-plugins", "hostile-mapper")],
        &format!("connector = \"csv\"\nmappers = [\"hostile-mapper\"]\n[jobs.grants]\ninput_dir = \"data\"\n[jobs.mapping]\nmode = \"{mode}\"\n{CSV_SOURCE}"),
    );
    env.write_csv("id,uid,active,groups\n1,ada,true,Staff\n");
    env
}

fn connector_env(mode: &str) -> TestEnv {
    TestEnv::new(
        &[("test-plugins", "hostile-connector"), ("plugins", "default-mapper")],
        &format!("connector = \"hostile-connector\"\nmappers = [\"default-mapper\"]\n[jobs.source]\nmode = \"{mode}\"\nusers = 3\n"),
    )
}

async fn fails_with(env: &TestEnv, needle: &str) {
    let err = env
        .sync()
        .await
        .expect_err("a hostile plugin must fail its run");
    let text = format!("{err:#}");
    assert!(
        text.contains(needle),
        "error should mention {needle:?}: {text}"
    );
    assert_eq!(
        env.last_run().await.outcome,
        "failed",
        "the run record says what happened"
    );
}

#[tokio::test]
async fn mapper_endless_loop_is_stopped() {
    fails_with(&mapper_env("loop"), "without returning to the host").await;
}

#[tokio::test]
async fn mapper_memory_hog_is_stopped() {
    fails_with(&mapper_env("memory"), "memory limit").await;
}

#[tokio::test]
async fn mapper_huge_payload_is_refused() {
    fails_with(&mapper_env("huge"), "limits.max_output_kb").await;
}

#[tokio::test]
async fn mapper_trap_fails_the_run_and_the_next_run_works() {
    let env = mapper_env("trap");
    fails_with(&env, "crashed").await;
    // The same host process keeps working with a well-behaved job.
    let ok = TestEnv::csv();
    ok.write_csv("id,uid,active,groups\n1,ada,true,Staff\n");
    assert_eq!(ok.sync().await.unwrap().run.outcome, "succeeded");
}

#[tokio::test]
async fn mapper_sandbox_escape_attempts_are_denied() {
    let env = mapper_env("probe");
    let report = env.sync().await.unwrap();
    assert_eq!(report.plan.counts().created, 1);
    let users = env.host().await.store.users(None).await.unwrap();
    let custom: serde_json::Value =
        serde_json::from_str(users[0].custom.as_deref().unwrap()).unwrap();
    assert_eq!(custom["env_vars"], "0", "{custom}");
    for key in ["read_etc_passwd", "list_root", "tcp_connect"] {
        assert!(
            custom[key].as_str().unwrap().starts_with("denied"),
            "{key}: {custom}"
        );
    }
}

#[tokio::test]
async fn connector_endless_loop_is_stopped() {
    fails_with(&connector_env("loop"), "without returning to the host").await;
}

#[tokio::test]
async fn connector_memory_hog_is_stopped() {
    fails_with(&connector_env("memory"), "memory limit").await;
}

#[tokio::test]
async fn connector_trap_is_contained() {
    fails_with(&connector_env("trap"), "crashed").await;
}

#[tokio::test]
async fn connector_huge_batch_is_refused() {
    fails_with(&connector_env("huge-batch"), "limits.max_output_kb").await;
}

#[tokio::test]
async fn connector_flood_is_stopped() {
    fails_with(&connector_env("flood"), "limits.max_read_mb").await;
}

/// Issue 11 item 1: with no `[limits]` at all, a flood used to take the host
/// to gigabytes (max_read_mb was 4096 and counted wire bytes). The default
/// budget must stop it with a message naming the key, and the same process
/// must go on to run a good job.
#[tokio::test]
async fn connector_flood_is_stopped_under_default_limits() {
    let env = connector_env("flood");
    env.edit(|doc| {
        doc.remove("limits");
    });
    let err = env
        .sync()
        .await
        .expect_err("an endless flood must be stopped");
    let text = format!("{err:#}");
    assert!(
        text.contains("limits.max_read_mb = 256") && text.contains("raise limits.max_read_mb"),
        "{text}"
    );
    assert_eq!(env.last_run().await.outcome, "failed");
    let ok = connector_env("well-behaved");
    assert_eq!(ok.sync().await.unwrap().plan.counts().created, 3);
}

/// Every other host call that makes the host keep something is charged to
/// the same budget and stops an endless loop the same way.
#[tokio::test]
async fn connector_floods_through_every_target_call_are_stopped() {
    for mode in [
        "flood-groups",
        "flood-members",
        "flood-removes",
        "flood-rejects",
        "flood-state",
    ] {
        let env = connector_env(mode);
        let err = env.sync().await.expect_err(mode);
        let text = format!("{err:#}");
        assert!(text.contains("limits.max_read_mb"), "{mode}: {text}");
    }
}

#[tokio::test]
async fn connector_log_flood_is_capped_and_stopped() {
    fails_with(&connector_env("flood-log"), "limits.cpu_seconds").await;
}

#[tokio::test]
async fn connector_huge_checkpoint_is_refused() {
    fails_with(&connector_env("huge-checkpoint"), "limits.max_output_kb").await;
}

#[tokio::test]
async fn well_behaved_connector_fixture_syncs() {
    let report = connector_env("well-behaved").sync().await.unwrap();
    assert_eq!(report.plan.counts().created, 3);
}

#[tokio::test]
async fn connector_sandbox_escape_attempts_are_denied() {
    let env = TestEnv::new(
        &[("test-plugins", "hostile-connector"), ("plugins", "default-mapper")],
        "connector = \"hostile-connector\"\n[jobs.source]\nmode = \"probe\"\n\
         [jobs.mapping.custom]\nenv_vars = \"{env_vars}\"\nread_etc_passwd = \"{read_etc_passwd}\"\n\
         list_root = \"{list_root}\"\ntcp_connect = \"{tcp_connect}\"\n",
    );
    env.sync().await.unwrap();
    let users = env.host().await.store.users(None).await.unwrap();
    let custom: serde_json::Value =
        serde_json::from_str(users[0].custom.as_deref().unwrap()).unwrap();
    assert_eq!(custom["env_vars"], "0", "{custom}");
    for key in ["read_etc_passwd", "list_root", "tcp_connect"] {
        assert!(
            custom[key].as_str().unwrap().starts_with("denied"),
            "{key}: {custom}"
        );
    }
}
