//! Agent mode (issue 13): `usersync serve` over HTTPS and `usersync agent`
//! processes reading a real slapd. Full, incremental and deletion runs
//! converge; an agent killed mid-run, or the server killed and restarted
//! mid-run, leaves nothing applied and the next run converges; a second
//! agent takes the job when the first is gone. The protocol's isolation
//! and revocation are in `agent_protocol.rs`.

use ldap_harness::{DirectorySpec, SlapdOptions};
use serde_json::Value;

use crate::agent_env::{active_users, agent_env, agents_cli, finished, trigger, wait_log, Agent};
use crate::daemon_env::{Served, TOKEN};
use crate::ldap_env::slapd_with;

fn enabled(spec: &DirectorySpec) -> u64 {
    (0..spec.users).filter(|&i| !spec.user(i).disabled).count() as u64
}

fn message(run: &Value) -> String {
    run["message"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_reads_the_directory_and_full_incremental_and_deletion_runs_converge() {
    let spec = DirectorySpec::new(40, 4, 13);
    let slapd = slapd_with(&spec, SlapdOptions::default());
    let d = Served::start(agent_env(&slapd));
    assert!(d.base.starts_with("https://"), "{}", d.base);
    let mut agent = Agent::enrol(&d, "default", "dc1", &slapd).await;
    let cred = agent.credential();
    let mode = std::fs::metadata(agent.dir.join("agent.credential"))
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()))
        .unwrap();
    assert_eq!(mode & 0o777, 0o600, "the credential file is owner-only");
    agent.start(slapd.admin_password());

    let full = finished(&d, "default", &trigger(&d, "default").await).await;
    assert_eq!(full["outcome"], "succeeded", "{full}\n{}", agent.log());
    assert_eq!(full["mode"], "full");
    assert_eq!(active_users(&d, "default").await, enabled(&spec));

    // A deleted user and a changed one: the incremental run sees both.
    let gone = (0..spec.users).find(|&i| !spec.user(i).disabled).unwrap();
    slapd.delete(&spec.user(gone).dn).unwrap();
    let changed = (0..spec.users)
        .rev()
        .find(|&i| !spec.user(i).disabled)
        .unwrap();
    slapd
        .modify(&format!(
            "dn: {}\nchangetype: modify\nreplace: mail\nmail: moved@example.org\n",
            spec.user(changed).dn
        ))
        .unwrap();
    let inc = finished(&d, "default", &trigger(&d, "default").await).await;
    assert_eq!(inc["outcome"], "succeeded", "{inc}\n{}", agent.log());
    assert_eq!(inc["mode"], "incremental", "{inc}");
    assert_eq!(active_users(&d, "default").await, enabled(&spec) - 1);
    let users = d.ok("/users?tenant=default&limit=1000").await;
    let find = |uid: &str| {
        users["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"] == uid)
            .cloned()
            .unwrap_or_else(|| panic!("no user {uid}"))
    };
    assert_eq!(find(&spec.user(gone).uid)["active"], false);
    assert_eq!(find(&spec.user(changed).uid)["email"], "moved@example.org");
    // Nothing else changed: the next run converges to no change.
    let again = finished(&d, "default", &trigger(&d, "default").await).await;
    assert_eq!(again["outcome"], "succeeded", "{again}");
    let counts = &again["counts"];
    assert_eq!(
        (
            &counts["created"],
            &counts["updated"],
            &counts["deactivated"]
        ),
        (&0.into(), &0.into(), &0.into()),
        "{again}"
    );

    // The server shows the agent; metrics have it.
    let listed = agents_cli(&d, &["list", "--tenant", "default"]);
    assert!(
        listed.contains("dc1") && listed.contains("people"),
        "{listed}"
    );
    let agents = d.ok("/tenants/default/agents").await;
    assert_eq!(agents[0]["version"], env!("CARGO_PKG_VERSION"), "{agents}");
    assert!(agents[0]["last_seen"].is_string(), "{agents}");
    let (_, metrics) = d.get("/metrics").await;
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("usersync_agent_last_seen_seconds{tenant=\"default\",agent=\"dc1\"}"),
        "{metrics}"
    );
    // No secret in the server's log or answers.
    let runs = d.ok("/runs?limit=10").await.to_string();
    let log = d.log();
    for secret in [
        slapd.admin_password(),
        cred["credential"].as_str().unwrap(),
        TOKEN,
    ] {
        assert!(!log.contains(secret), "a secret in the server's log");
        assert!(!runs.contains(secret), "a secret in a run record");
        assert!(!agents.to_string().contains(secret));
    }
    assert!(!agent.log().contains(slapd.admin_password()));
}

/// A directory big enough that a run's read takes many batches.
fn big() -> (DirectorySpec, ldap_harness::Slapd) {
    let spec = DirectorySpec::new(1500, 6, 17);
    let slapd = slapd_with(&spec, SlapdOptions::default());
    (spec, slapd)
}

const DEBUG_AGENTS: (&str, &str) = ("USERSYNC_LOG", "info,usersync_host::daemon::agents=debug");

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_killed_mid_run_applies_nothing_and_another_agent_takes_the_job() {
    let (spec, slapd) = big();
    let d = Served::start_with(agent_env(&slapd), &[DEBUG_AGENTS]);
    let mut first = Agent::enrol(&d, "default", "first", &slapd).await;
    let mut second = Agent::enrol(&d, "default", "second", &slapd).await;
    first.start(slapd.admin_password());

    let started = trigger(&d, "default").await;
    wait_log(&d, "agent batch fed", 3).await;
    first.kill();
    second.start(slapd.admin_password());
    let run = finished(&d, "default", &started).await;
    assert_eq!(run["outcome"], "failed", "{run}");
    assert!(
        message(&run).contains("abandoned: agent first stopped responding")
            && message(&run).contains("nothing was applied"),
        "{run}"
    );
    assert!(run["counts"].is_null(), "{run}");
    assert_eq!(active_users(&d, "default").await, 0, "nothing applied");

    let next = finished(&d, "default", &trigger(&d, "default").await).await;
    assert_eq!(next["outcome"], "succeeded", "{next}\n{}", second.log());
    assert_eq!(active_users(&d, "default").await, enabled(&spec));
    assert!(
        d.log().contains("agent=second"),
        "the second agent ran it: {}",
        d.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_killed_and_restarted_mid_run_applies_nothing_and_the_next_run_converges() {
    let (spec, slapd) = big();
    let env = agent_env(&slapd);
    // The killed node's lease on the job lapses soon, so the restarted
    // node (a new node name) takes the job over.
    env.edit(|doc| {
        let server = doc["server"].as_table_mut().unwrap();
        server.insert("lease_seconds".into(), 2.into());
        server.insert("lease_heartbeat_seconds".into(), 1.into());
    });
    let d = Served::start_with(env, &[DEBUG_AGENTS]);
    let mut agent = Agent::enrol(&d, "default", "dc1", &slapd).await;
    agent.start(slapd.admin_password());
    let started = trigger(&d, "default").await;
    wait_log(&d, "agent batch fed", 3).await;
    let listen = d.base.trim_start_matches("https://").to_string();
    let env = d.kill();
    let d = Served::start_on(env, &listen, &[DEBUG_AGENTS]);
    let old = format!("/runs/{}", started["run_id"].as_str().unwrap());
    let run = d
        .wait_for("the killed node's run to be marked", &old, |r| {
            r["outcome"] != "running"
        })
        .await;
    assert_eq!(run["outcome"], "interrupted", "{run}");
    assert!(run["counts"].is_null(), "{run}");

    // The restarted node takes the job over (its lease lapsed), or runs it
    // when asked; either run goes to the agent, which gave up the old one.
    let (status, _) = d.post("/tenants/default/jobs/people/run").await;
    assert!(status == 202 || status == 409, "{status}");
    let job = d
        .wait_for(
            "a run after the restart to succeed",
            "/tenants/default/jobs/people",
            |j| j["status"] == "idle" && j["last_run"]["outcome"] == "succeeded",
        )
        .await;
    assert_ne!(job["last_run"]["run_id"], started["run_id"]);
    assert_eq!(active_users(&d, "default").await, enabled(&spec));
    assert!(agent.log().contains("run"), "{}", agent.log());
}
