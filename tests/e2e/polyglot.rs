//! Plugins written in Python (componentize-py) and JavaScript
//! (componentize-js), built from the same WIT contract as the Rust ones by
//! scripts/build-polyglot.sh: examples/python-mapper and examples/js-mapper
//! (the same `hr-mapper` in two languages) and the templates, loaded, run
//! and hot-swapped by the real host. The connectors are in
//! polyglot_connectors.rs.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use usersync_host::store::Lookup;

use crate::daemon_env::Served;
use crate::env::TestEnv;

/// A Python or JavaScript example: `target/example-plugins/<name>.wasm`.
pub(crate) fn polyglot(name: &str) -> PathBuf {
    must_exist(
        repo()
            .join("target/example-plugins")
            .join(format!("{name}.wasm")),
    )
}

/// The plugin built from template `sdk/templates/<t>` (named `template-<t>`).
pub(crate) fn template(t: &str) -> PathBuf {
    must_exist(
        repo()
            .join("target/polyglot-templates")
            .join(t)
            .join(format!("template-{t}.wasm")),
    )
}

pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Missing means the toolchain step did not run: fail, naming the script.
fn must_exist(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: run `bash scripts/build-polyglot.sh` first (it installs componentize-py and \
         componentize-js under target/polyglot-tools and builds the Python and JavaScript examples \
         and templates; scripts/test.sh runs it)",
        path.display()
    );
    path
}

/// An installation with the csv connector and `plugins` copied in as
/// (example, file name without .wasm); `job` is appended to job `people`.
fn env_with(plugins: &[(PathBuf, &str)], job: &str) -> TestEnv {
    let env = TestEnv::new(&[("plugins", "csv")], job);
    for (built, file) in plugins {
        let to = env.dir.path().join(format!("plugins/{file}.wasm"));
        std::fs::copy(built, to).unwrap();
    }
    env
}

/// Compiling a 12-18 MB interpreter component takes tens of seconds on a
/// small machine; the host caches the result (target/test-plugin-cache).
/// Tests compile each example once, one at a time, before a daemon (whose
/// start and reload waits are short) has to load it.
pub(crate) async fn warm(built: PathBuf) {
    // A tokio mutex: it is held across the load, and works across the tests' runtimes.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let env = env_with(&[(built, "warm")], "connector = \"csv\"\n");
    let _guard = ONE_AT_A_TIME.lock().await;
    env.host().await; // loads (and so compiles and caches) every plugin
}

const HR_JOB: &str = r#"connector = "csv"
mappers = ["hr-mapper"]
[jobs.grants]
input_dir = "data"
[jobs.source]
path = "/input/people.csv"
id_column = "id"
groups_column = "groups"
"#;

const PEOPLE: &str = "\
id,givenName,sn,mail,departmentNumber,hireDate,employeeType,title,employeeNumber,groups
1,Zoë,Ågren,Zoe.Agren@Example.com,ENG,2024-01-15,employee,Developer,E1,Staff;Dev
2,Bob,Stone,bob@example.com,mkt,20230301000000Z,Contractor,Designer,E2,Staff
3,Ann,Lee,ann@example.com,XYZ,2024-01-15,employee,Developer,E3,Staff
4,Cy,Ray,cy@example.com,FIN,2024-02-30,employee,Developer,E4,Staff
5,Di,,di@example.com,FIN,2024-02-01,employee,Developer,E5,Staff
6,Eve,Ng,eve@example.com,,,,,,Staff
";

/// The hr-mapper job on PEOPLE with `example` serving as `hr-mapper`.
async fn hr_env(example: &str) -> TestEnv {
    warm(polyglot(example)).await;
    let env = env_with(&[(polyglot(example), "hr-mapper")], HR_JOB);
    env.set_job(
        "mapping",
        json!({ "date_format": "%Y/%m/%d", "departments": { "MKT": "Marketing" } }),
    );
    env.set_job("sync", json!({ "max_rejected_percent": 60 }));
    env.write_csv(PEOPLE);
    let host = env.host().await;
    for title in ["Developer", "EXT-Designer"] {
        host.store
            .add_lookup("default", Lookup::JobTitle, title)
            .await
            .unwrap();
    }
    env
}

/// What a mapper decided about each user, without store ids and times.
async fn mapped_users(env: &TestEnv) -> Vec<Value> {
    let users = env.host().await.store.users(None).await.unwrap();
    let mut out: Vec<Value> = users
        .iter()
        .map(|u| {
            json!({
                "username": u.username, "display_name": u.display_name, "email": u.email,
                "job_title": u.job_title, "department": u.department,
                "employee_id": u.employee_id, "custom": u.custom, "groups": u.groups,
            })
        })
        .collect();
    out.sort_by_key(|u| u["username"].as_str().unwrap().to_string());
    out
}

/// Runs the hr-mapper built from `example` and checks every rule; returns
/// the users it produced.
async fn check_hr_mapper(example: &str, version: &str) -> Vec<Value> {
    let env = hr_env(example).await;
    let report = env.sync().await.unwrap();
    let run = &report.run;
    assert_eq!(run.outcome, "succeeded", "{example}: {run:?}");
    assert_eq!(
        run.mapper_versions.as_deref(),
        Some(format!("hr-mapper {version}").as_str())
    );
    assert_eq!(report.plan.counts().created, 3, "{example}: {run:?}");

    // Rejected records name the field and the fix, one error each.
    let errors = run.errors.clone().unwrap();
    let errors: Vec<(String, String)> = errors
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let field = e["field"].as_str().unwrap_or_default().to_string();
            (field, e["message"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(errors.len(), 3, "{example}: {errors:?}");
    let has = |field: &str, text: &str| errors.iter().any(|(f, m)| f == field && m.contains(text));
    assert!(
        has(
            "departmentNumber",
            "unknown department code 'XYZ': add it to [mapping] departments"
        ),
        "{errors:?}"
    );
    assert!(has("hireDate", "'2024-02-30' is not a date"), "{errors:?}");
    assert!(has("sn", "sn is empty"), "{errors:?}");

    let users = mapped_users(&env).await;
    let by_name = |name: &str| {
        users
            .iter()
            .find(|u| u["username"] == name)
            .unwrap_or_else(|| panic!("{example}: no user {name} in {users:#?}"))
            .clone()
    };
    // Computed username (accents folded), lookup table, date format.
    let zoe = by_name("zagren");
    assert_eq!(zoe["display_name"], "Zoë Ågren");
    assert_eq!(zoe["email"], "zoe.agren@example.com");
    assert_eq!(zoe["department"], "Engineering");
    assert_eq!(zoe["job_title"], "Developer");
    assert_eq!(zoe["employee_id"], "E1");
    let custom: Value = serde_json::from_str(zoe["custom"].as_str().unwrap()).unwrap();
    assert_eq!(custom["hire_date"], "2024/01/15");
    // Contractor rule, a code added by [mapping] departments, LDAP time.
    let bob = by_name("bstone");
    assert_eq!(bob["job_title"], "EXT-Designer");
    assert_eq!(bob["department"], "Marketing");
    let custom: Value = serde_json::from_str(bob["custom"].as_str().unwrap()).unwrap();
    assert_eq!(custom["hire_date"], "2023/03/01");
    // Optional attributes left empty stay empty.
    let eve = by_name("eng");
    assert_eq!(eve["department"], Value::Null);
    assert_eq!(eve["job_title"], Value::Null);
    users
}

#[tokio::test]
async fn python_and_javascript_mappers_apply_the_same_rules_through_the_host() {
    let python = check_hr_mapper("python-mapper", "0.1.0-python").await;
    let javascript = check_hr_mapper("js-mapper", "0.1.0-js").await;
    assert_eq!(python, javascript, "the two languages disagree");
}

#[tokio::test]
async fn a_bad_mapping_table_fails_the_run_with_the_mappers_reason() {
    for (example, why) in [
        ("python-mapper", "departments must be a table"),
        ("js-mapper", "departments must be a table"),
    ] {
        let env = hr_env(example).await;
        env.set_job("mapping", json!({ "departments": ["ENG"] }));
        let failed = env.sync().await;
        let text = match failed {
            Ok(report) => format!("{:?}", report.run),
            Err(e) => format!("{e:#}"),
        };
        assert!(text.contains(why), "{example}: {text}");
    }
}

/// Poll GET /plugins (up to `limit`) until `hr-mapper` serves `version`.
async fn wait_for_version(d: &Served, version: &str, limit: Duration) {
    let start = Instant::now();
    loop {
        let plugins = d.ok("/plugins").await;
        let serving = plugins["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "hr-mapper" && p["version"] == version);
        if serving {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "hr-mapper {version} not served; /plugins: {plugins}\nlog:\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_hot_swaps_the_python_mapper_for_the_javascript_one() {
    warm(polyglot("js-mapper")).await;
    let env = hr_env("python-mapper").await;
    let d = Served::start(env);
    let run = d.run("people", "").await;
    assert_eq!(run["outcome"], "succeeded", "{run}");
    assert_eq!(run["mapper_versions"], "hr-mapper 0.1.0-python");
    let before = d.ok("/users").await;

    // Drop the JavaScript build in under the same name, the way users are
    // told to (temp name, then rename): the next run uses it, no restart.
    let plugins = d.env.dir.path().join("plugins");
    std::fs::copy(polyglot("js-mapper"), plugins.join(".hr-mapper.wasm.tmp")).unwrap();
    std::fs::rename(
        plugins.join(".hr-mapper.wasm.tmp"),
        plugins.join("hr-mapper.wasm"),
    )
    .unwrap();
    wait_for_version(&d, "0.1.0-js", Duration::from_secs(120)).await;
    let run = d.run("people", "").await;
    assert_eq!(run["outcome"], "succeeded", "{run}");
    assert_eq!(run["mapper_versions"], "hr-mapper 0.1.0-js");
    assert_eq!(run["counts"]["updated"], 0, "same rules, same users: {run}");
    assert_eq!(d.ok("/users").await, before);
}

pub(crate) fn write_jsonl(env: &TestEnv, lines: &[String]) {
    let tmp = env.dir.path().join("data/.people.jsonl.tmp");
    std::fs::write(&tmp, lines.join("\n") + "\n").unwrap();
    std::fs::rename(tmp, env.dir.path().join("data/people.jsonl")).unwrap();
}

pub(crate) fn line(id: &str, uid: &str, mail: &str, groups: &[&str], updated: &str) -> String {
    json!({ "id": id, "uid": uid, "mail": mail, "groups": groups, "updated_at": updated })
        .to_string()
}

#[tokio::test]
async fn templates_build_plugins_that_sync_through_the_host() {
    // The Python connector and mapper templates, as `plugins new` writes them.
    for t in ["python-connector", "python-mapper", "js-mapper"] {
        warm(template(t)).await;
    }
    let env = TestEnv::new(
        &[],
        "connector = \"template-python-connector\"\nmappers = [\"template-python-mapper\"]\n\
         [jobs.grants]\ninput_dir = \"data\"\n[jobs.source]\npath = \"/input/people.jsonl\"\n",
    );
    for t in ["python-connector", "python-mapper"] {
        let to = env.dir.path().join(format!("plugins/template-{t}.wasm"));
        std::fs::copy(template(t), to).unwrap();
    }
    env.set_job("sync", json!({ "max_rejected_percent": 50 }));
    let ada = json!({ "id": 1, "uid": "Ada", "givenName": "Ada", "sn": "Lovelace" });
    let grace = json!({ "id": 2, "uid": "grace", "mail": "grace@example.com" });
    write_jsonl(&env, &[ada.to_string(), grace.to_string(), "[1]".into()]);
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded", "{:?}", report.run);
    assert_eq!(report.plan.counts().created, 2);
    assert!(report
        .run
        .errors
        .clone()
        .unwrap()
        .to_string()
        .contains("line 3"));
    let users = env.host().await.store.users(None).await.unwrap();
    let ada = users.iter().find(|u| u.username == "ada").unwrap();
    assert_eq!(ada.display_name.as_deref(), Some("Ada Lovelace"));

    // The JavaScript mapper template behind the csv connector.
    let env = env_with(
        &[(template("js-mapper"), "template-js-mapper")],
        &HR_JOB.replace("hr-mapper", "template-js-mapper"),
    );
    env.write_csv("id,uid,givenName,sn,groups\n1,Ada,Ada,Lovelace,Staff\n");
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded", "{:?}", report.run);
    let users = env.host().await.store.users(None).await.unwrap();
    assert_eq!(users[0].username, "ada");
    assert_eq!(users[0].display_name.as_deref(), Some("Ada Lovelace"));
}

#[test]
fn plugins_new_writes_python_and_javascript_projects_from_the_templates() {
    // Every (language, kind) pair has a template: none is refused any more.
    let dir = tempfile::tempdir().unwrap();
    for (lang, kind, template, code) in [
        ("python", "mapper", "python-mapper", "app.py"),
        ("python", "connector", "python-connector", "app.py"),
        ("js", "mapper", "js-mapper", "mapper.js"),
        ("js", "connector", "js-connector", "connector.js"),
    ] {
        let project = dir.path().join(template);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_usersync"))
            .args(["plugins", "new", "acme-hr", "--lang", lang, "--kind", kind])
            .arg("--dir")
            .arg(&project)
            .output()
            .unwrap();
        assert!(out.status.success(), "{lang} {kind}: {out:?}");
        // The same files the test suite builds and syncs with
        // (templates_build_plugins_that_sync_through_the_host), named acme-hr.
        let built = template_dir(template);
        for file in [code, "build.sh", "test.sh", "README.md", "wit/worlds.wit"] {
            let written = std::fs::read_to_string(project.join(file)).unwrap();
            let tested = std::fs::read_to_string(built.join(file)).unwrap();
            let tested = tested.replace(&format!("template-{template}"), "acme-hr");
            assert_eq!(written, tested, "{template}/{file}");
        }
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(project.join("build.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert!(mode & 0o111 != 0, "build.sh is executable");
        // What the project's test.sh runs last: the host accepts the build.
        let checked = std::process::Command::new(env!("CARGO_BIN_EXE_usersync"))
            .args(["plugins", "check"])
            .arg(built.join(format!("template-{template}.wasm")))
            // Its compile cache under target/, not the user's ~/.cache.
            .env("XDG_CACHE_HOME", repo().join("target/test-check-cache"))
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&checked.stdout);
        assert!(checked.status.success(), "{template}: {checked:?}");
        assert!(
            said.contains(&format!("ok: template-{template} ")) && said.contains(kind),
            "{said}"
        );
    }
}

/// The folder scripts/build-polyglot.sh renders template `t` into.
fn template_dir(t: &str) -> PathBuf {
    template(t).parent().unwrap().to_path_buf()
}
