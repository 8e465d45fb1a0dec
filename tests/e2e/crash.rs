//! Crash safety: `usersync sync` killed with SIGKILL at many points of a
//! large run never leaves half a run behind, and re-running converges.

use std::process::{Command, Stdio};
use std::time::Instant;

use crate::env::TestEnv;

const ROWS: usize = 50_000;

/// Version `v` of a 50k-row file: every email differs between versions,
/// and each version has 1,000 users the other does not.
fn people(v: usize) -> String {
    let mut out = String::from("id,uid,givenName,sn,mail,active,groups\n");
    let first = if v == 1 { 0 } else { 1000 };
    for i in first..first + ROWS {
        out.push_str(&format!(
            "{i},user{i},Given{i},Family{i},v{v}.user{i}@example.com,true,Group{}\n",
            i % 50
        ));
    }
    out
}

fn sync_child(env: &TestEnv) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_usersync"))
        .arg("-c")
        .arg(env.dir.path().join("usersync.toml"))
        .args(["sync", "--job", "people", "--confirm-deletions"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Which version the store holds: every user's email must come from one
/// version only (a half-applied run would mix them).
async fn version(env: &TestEnv) -> usize {
    let users = env.host().await.store.users(None).await.unwrap();
    let active: Vec<_> = users.iter().filter(|u| u.active).collect();
    let v1 = active
        .iter()
        .filter(|u| u.email.as_deref().unwrap_or("").starts_with("v1."))
        .count();
    let v2 = active
        .iter()
        .filter(|u| u.email.as_deref().unwrap_or("").starts_with("v2."))
        .count();
    assert!(
        v1 == 0 || v2 == 0,
        "half a run is visible: {v1} users at v1, {v2} at v2"
    );
    assert_eq!(active.len(), ROWS, "active users");
    if v1 > 0 {
        1
    } else {
        2
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_a_run_never_leaves_half_of_it() {
    let env = TestEnv::csv();
    env.write_csv(&people(1));
    let started = Instant::now();
    assert!(sync_child(&env).wait().unwrap().success());
    let full_run = started.elapsed();
    assert_eq!(version(&env).await, 1);

    // Kill runs that switch to the other version at spread-out moments.
    let mut state = 1;
    for percent in [10u32, 30, 50, 70, 80, 90, 95, 100, 110] {
        let target = 3 - state;
        env.write_csv(&people(target));
        let mut child = sync_child(&env);
        std::thread::sleep(full_run * percent / 100);
        let _ = child.kill(); // SIGKILL on Unix
        let _ = child.wait();
        state = version(&env).await;
        eprintln!(
            "killed at {percent}% of a full run: store holds version {state} (target {target})"
        );
    }

    // Re-running converges to the file, whatever state the kills left.
    env.write_csv(&people(2));
    assert!(sync_child(&env).wait().unwrap().success());
    assert_eq!(version(&env).await, 2);
    let host = env.host().await;
    let users = host.store.users(None).await.unwrap();
    assert_eq!(users.len(), ROWS + 1000, "nobody lost, nobody duplicated");
    let (cursor, _) = host.store.job_cursor("default", "people").await.unwrap();
    assert_eq!(
        cursor.as_deref(),
        Some(format!("csv:rows={ROWS}").as_str()),
        "the cursor matches the data"
    );
    let runs = host.store.runs(None, Some("people"), 100).await.unwrap();
    assert!(
        runs.iter().all(|r| r.outcome != "running"),
        "killed runs are marked, not left running"
    );
}
