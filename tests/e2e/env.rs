//! A throwaway installation: plugins folder, input folder, config, store.

use std::path::{Path, PathBuf};

use usersync_host::config::Config;
use usersync_host::sync::{Host, RunReport, SyncRequest};

pub struct TestEnv {
    pub dir: tempfile::TempDir,
}

/// Which store the tests run on: `USERSYNC_TEST_STORE=postgres` runs them on
/// a throwaway PostgreSQL cluster (one per test process, a database per
/// test); anything else, SQLite in each test's folder.
pub fn on_postgres() -> bool {
    std::env::var("USERSYNC_TEST_STORE").is_ok_and(|s| s == "postgres")
}

/// The `[store] url` of a new test installation.
fn store_url() -> String {
    if on_postgres() {
        ldap_harness::shared_database().expect("a PostgreSQL database for the test")
    } else {
        "sqlite://usersync.db".into()
    }
}

/// Run `$body` with `$p` bound to the store's pool, whichever backend it is
/// (for the few checks that read tables directly; write `$1` placeholders).
#[macro_export]
macro_rules! on_store {
    ($store:expr, |$p:ident| $body:expr) => {
        match $store.backend() {
            usersync_host::store::Backend::Sqlite($p) => $body,
            usersync_host::store::Backend::Postgres($p) => $body,
        }
    };
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The compiled-plugin cache the tests share.
pub fn test_cache() -> PathBuf {
    repo().join("target/test-plugin-cache")
}

/// A built plugin: `target/<folder>/<name>.wasm`.
pub fn built(folder: &str, name: &str) -> PathBuf {
    let path = repo()
        .join("target")
        .join(folder)
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run `bash scripts/build-plugins.sh` first (the README's test command does)",
        path.display()
    );
    path
}

pub const CSV_SOURCE: &str = r#"
[jobs.source]
path = "/input/people.csv"
id_column = "id"
enabled_column = "active"
groups_column = "groups"
"#;

impl TestEnv {
    /// An installation with the given plugins (folder, name) and a job
    /// `people` whose extra TOML is appended to the config.
    pub fn new(plugins: &[(&str, &str)], job: &str) -> TestEnv {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        for (folder, name) in plugins {
            std::fs::copy(
                built(folder, name),
                dir.path().join("plugins").join(format!("{name}.wasm")),
            )
            .unwrap();
        }
        let config = format!(
            r#"
[store]
url = "{store}"
[plugins]
dir = "plugins"
cache_dir = "{cache}"
[limits]
memory_mb = 64
cpu_seconds = 1.0
max_output_kb = 1024
max_read_mb = 16
[[tenants]]
id = "default"
licenses = {{ standard = 1000 }}
[[jobs]]
id = "people"
{job}
"#,
            cache = repo().join("target/test-plugin-cache").display(),
            store = store_url(),
        );
        std::fs::write(dir.path().join("usersync.toml"), config).unwrap();
        let env = TestEnv { dir };
        env.set_job("sync", serde_json::json!({}));
        env
    }

    /// The standard CSV job with the default mapper.
    pub fn csv() -> TestEnv {
        TestEnv::new(
            &[("plugins", "csv"), ("plugins", "default-mapper")],
            &format!("connector = \"csv\"\nmappers = [\"default-mapper\"]\n[jobs.grants]\ninput_dir = \"data\"\n{CSV_SOURCE}"),
        )
    }

    pub fn write_csv(&self, text: &str) {
        // temp-then-rename, as users are told to do
        let tmp = self.dir.path().join("data/.people.csv.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(tmp, self.dir.path().join("data/people.csv")).unwrap();
    }

    pub fn config(&self) -> Config {
        Config::load(&self.dir.path().join("usersync.toml")).unwrap()
    }

    pub async fn host(&self) -> Host {
        Host::open(self.config()).await.unwrap()
    }

    /// `test-connection` of job `people`, stage by stage.
    pub async fn test_connection(&self) -> Vec<usersync_host::model::Check> {
        self.host()
            .await
            .test_connection(None, "people")
            .await
            .unwrap()
    }

    /// The newest run record of job `people`.
    pub async fn last_run(&self) -> usersync_host::store::RunRecord {
        let runs = self.host().await.store.runs(None, Some("people"), 1).await;
        runs.unwrap().remove(0)
    }

    pub async fn sync(&self) -> anyhow::Result<RunReport> {
        self.sync_with(SyncRequest::default()).await
    }

    /// A full run of job `people`, whatever the cursor says.
    pub async fn sync_full(&self) -> anyhow::Result<RunReport> {
        self.sync_with(SyncRequest {
            full: true,
            ..Default::default()
        })
        .await
    }

    /// A run of job `people` with the request's flags.
    pub async fn sync_with(&self, req: SyncRequest) -> anyhow::Result<RunReport> {
        let req = SyncRequest {
            job: "people".into(),
            ..req
        };
        self.host().await.sync(&req).await
    }

    /// The scripted connector and the default mapper; `source` is the
    /// job's `[jobs.source]` (see tests/fixtures/README.md).
    pub fn scripted(source: serde_json::Value) -> TestEnv {
        let env = TestEnv::new(
            &[
                ("test-plugins", "scripted-connector"),
                ("plugins", "default-mapper"),
            ],
            "connector = \"scripted-connector\"\nmappers = [\"default-mapper\"]\n",
        );
        env.set_job("source", source);
        env
    }

    /// Edit usersync.toml as a TOML document (written temp-then-rename, so
    /// a host never reads a half-written file).
    pub fn edit(&self, f: impl FnOnce(&mut toml::Table)) {
        let path = self.dir.path().join("usersync.toml");
        let mut doc: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
        f(&mut doc);
        let tmp = self.dir.path().join(".usersync.toml.tmp");
        std::fs::write(&tmp, toml::to_string(&doc).unwrap()).unwrap();
        std::fs::rename(tmp, path).unwrap();
    }

    /// Replace one key of job `people` (`source`, `mapping`, `sync`, `roles`).
    ///
    /// The behaviour tests deactivate large shares of directories of a few
    /// users, so a `sync` table without `deactivate_threshold_percent` gets
    /// 100 (off) here; tests of that safeguard set it, or use [`Self::edit`].
    pub fn set_job(&self, key: &str, mut value: serde_json::Value) {
        if key == "sync" {
            if let Some(sync) = value.as_object_mut() {
                sync.entry("deactivate_threshold_percent")
                    .or_insert(serde_json::json!(100.0));
            }
        }
        let value = toml::Value::try_from(value).unwrap();
        self.edit(|doc| {
            doc["jobs"].as_array_mut().unwrap()[0]
                .as_table_mut()
                .unwrap()
                .insert(key.into(), value);
        });
    }

    /// Replace the tenant's license seats, e.g. `json!({"standard": 2})`.
    /// Point this installation at a new database of the test PostgreSQL
    /// cluster, whatever `USERSYNC_TEST_STORE` says; returns its URL.
    pub fn use_postgres(&self) -> String {
        let url = ldap_harness::shared_database().expect("a PostgreSQL database for the test");
        self.set_store_url(&url);
        url
    }

    pub fn set_store_url(&self, url: &str) {
        let url = url.to_string();
        self.edit(|doc| {
            doc["store"]
                .as_table_mut()
                .unwrap()
                .insert("url".into(), url.into());
        });
    }

    pub fn set_licenses(&self, licenses: serde_json::Value) {
        let value = toml::Value::try_from(licenses).unwrap();
        self.edit(|doc| {
            doc["tenants"].as_array_mut().unwrap()[0]
                .as_table_mut()
                .unwrap()
                .insert("licenses".into(), value);
        });
    }
}

/// Run the `usersync` binary without log settings from the environment.
pub fn usersync_output(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_usersync"))
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("USERSYNC_LOG")
        .output()
        .unwrap()
}

/// Run the `usersync` binary without log settings from the environment:
/// whether it succeeded, and its stdout and stderr together.
pub fn usersync(args: &[&str]) -> (bool, String) {
    let out = usersync_output(args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
