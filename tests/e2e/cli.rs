//! The `usersync` command as a person or a script uses it: pipes, log
//! settings, `--json` shapes, `groups list`, `lookup`, `audit --user`.

use std::io::Read;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::env::TestEnv;

const PEOPLE: &str = "id,uid,givenName,sn,mail,active,groups
1,ada,Ada,Lovelace,ada@example.com,true,\"Sales, EMEA;Staff\"
2,grace,Grace,Hopper,grace@example.com,true,Staff
3,alan,Alan,Turing,alan@example.com,false,Staff
";

fn usersync(env: &TestEnv) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_usersync"));
    c.arg("-c").arg(env.dir.path().join("usersync.toml"));
    c.env_remove("RUST_LOG").env_remove("USERSYNC_LOG");
    c
}

/// Runs to the end; fails the test on a non-zero exit.
fn ok(c: &mut Command) -> Output {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(c: &mut Command) -> Value {
    let out = ok(c.arg("--json"));
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn synced(csv: &str) -> TestEnv {
    let env = TestEnv::csv();
    env.write_csv(csv);
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded", "{:?}", report.run.message);
    env
}

#[tokio::test]
async fn listing_into_a_closed_pipe_exits_quietly() {
    // More output than a pipe holds, so the writer meets the closed end.
    let mut csv = String::from("id,uid,mail,active,groups\n");
    for i in 0..1500 {
        csv.push_str(&format!("{i},user{i},user{i}@example.com,true,Staff\n"));
    }
    let env = synced(&csv).await;
    for args in [
        &["users", "list"][..],
        &["--json", "users", "list"],
        &["audit"],
    ] {
        let mut child = usersync(&env)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // `| head -c 10`: read a little, then hang up.
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 10];
        stdout.read_exact(&mut first).unwrap();
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
        assert!(stderr.is_empty(), "{args:?}: nothing on stderr: {stderr}");
    }
}

#[tokio::test]
async fn rust_log_is_honoured_and_piped_logs_have_no_colours() {
    let env = synced(PEOPLE).await;
    for var in ["RUST_LOG", "USERSYNC_LOG"] {
        let out = ok(usersync(&env)
            .env(var, "debug")
            .args(["sync", "--job", "people"]));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("DEBUG"),
            "{var}=debug shows debug logs: {stderr}"
        );
        assert!(
            !stderr.contains('\u{1b}'),
            "no ANSI escapes when piped: {stderr:?}"
        );
    }
    // The command's own default is quiet.
    let out = ok(usersync(&env).args(["sync", "--job", "people"]));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("DEBUG"));
    // A filter that cannot be parsed is named, not silently ignored.
    let out = ok(usersync(&env)
        .env("RUST_LOG", "debug,=[")
        .args(["sync", "--job", "people"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("RUST_LOG=") && stderr.contains("not a log filter"),
        "{stderr}"
    );
}

#[tokio::test]
async fn groups_list_shows_members_active_flag_and_source_id() {
    let env = synced(PEOPLE).await;
    let v = json(usersync(&env).args(["groups", "list"]));
    let groups = v.as_array().unwrap();
    let names: Vec<_> = groups.iter().map(|g| g["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Sales, EMEA", "Staff"]);
    let staff = &groups[1];
    assert_eq!(staff["active"], true);
    assert_eq!(staff["source_id"], "Staff");
    assert_eq!(staff["job_id"], "people");
    assert_eq!(staff["members"], 2, "alan is disabled, so not created");
    assert_eq!(
        staff["member_usernames"],
        serde_json::json!(["ada", "grace"])
    );

    let out = ok(usersync(&env).args(["groups", "list", "--job", "people"]));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("Sales, EMEA") && table.contains("2: ada, grace"),
        "{table}"
    );
    let other = json(usersync(&env).args(["groups", "list", "--job", "nope"]));
    assert_eq!(other, serde_json::json!([]));
}

#[tokio::test]
async fn json_output_holds_arrays_and_objects_not_json_text() {
    let env = synced(PEOPLE).await;
    let users = json(usersync(&env).args(["users", "list"]));
    let ada = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "ada")
        .unwrap();
    assert_eq!(
        ada["groups"],
        serde_json::json!(["Sales, EMEA", "Staff"]),
        "a group name with a comma stays one name"
    );
    assert!(
        ada["roles"].is_array() && ada["licenses"].is_array(),
        "{ada}"
    );

    let audit = json(usersync(&env).args(["audit", "--user", "ada", "--kind", "user"]));
    let create = &audit.as_array().unwrap()[0];
    assert!(create["changes"].is_array(), "{create}");
    assert_eq!(create["changes"][0]["field"], "username");
    assert!(create["plugin_versions"].is_object(), "{create}");
}

#[tokio::test]
async fn audit_by_an_old_username_finds_the_rename_and_what_followed() {
    let env = synced(PEOPLE).await;
    env.write_csv(&PEOPLE.replace("1,ada,", "1,ada.king,"));
    env.sync().await.unwrap();
    env.write_csv(
        &PEOPLE
            .replace("1,ada,", "1,ada.king,")
            .replace("ada@example.com", "ada.king@example.com"),
    );
    env.sync().await.unwrap();

    let events = json(usersync(&env).args(["audit", "--user", "ada"]));
    let seen: Vec<(String, String)> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["category"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for expected in [("user", "create"), ("user", "rename"), ("user", "update")] {
        assert!(
            seen.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} in {seen:?}"
        );
    }
    // Nobody else's events.
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["subject_source_id"] == "1"),
        "{events}"
    );
    // The new name and the source id find the same history.
    for key in ["ada.king", "1"] {
        let other = json(usersync(&env).args(["audit", "--user", key]));
        assert_eq!(
            other.as_array().unwrap().len(),
            events.as_array().unwrap().len(),
            "{key}"
        );
    }
}

#[tokio::test]
async fn lookup_says_what_it_added() {
    let env = TestEnv::csv();
    let v = json(usersync(&env).args(["lookup", "job-title", "Engineer"]));
    assert_eq!(
        v,
        serde_json::json!({"table": "job-title", "name": "Engineer", "tenant": "default", "added": true})
    );
    let again = json(usersync(&env).args(["lookup", "job-title", "Engineer"]));
    assert_eq!(again["added"], false);
    let out = ok(usersync(&env).args(["lookup", "company", "Acme"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("added company \"Acme\" to tenant \"default\""),
        "{text}"
    );
}

#[test]
fn plugins_list_names_each_refused_file_once_and_opens_no_store() {
    let env = TestEnv::csv();
    std::fs::write(env.dir.path().join("plugins/broken.wasm"), b"not wasm").unwrap();
    let out = ok(usersync(&env).args(["plugins", "list"]));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(all.matches("broken.wasm").count(), 1, "{all}");
    assert!(
        all.contains("csv") && all.contains("default-mapper"),
        "{all}"
    );
    assert!(
        !env.dir.path().join("usersync.db").exists(),
        "listing plugins creates no store"
    );
}
