//! Running the release `usersync` binary against a directory, as a child process: wall time,
//! CPU time and peak resident memory (`wait4`'s `ru_maxrss`, see `launcher.rs`) of each run,
//! and the run record it wrote to its store.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use ldap_harness::Slapd;

use crate::launcher::Launcher;
use crate::store::Target;

pub const JOB: &str = "directory";

/// A usersync installation in a folder: config, plugins, store.
pub struct Usersync {
    launcher: Arc<Launcher>,
    runs: std::sync::atomic::AtomicUsize,
    pub bin: PathBuf,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub store: Target,
}

/// What one child process did.
#[derive(Debug, Clone)]
pub struct ChildRun {
    pub wall_s: f64,
    pub cpu_s: f64,
    pub max_rss_mb: f64,
    pub exit: i32,
    pub stdout: String,
    pub stderr: String,
}

/// One `usersync sync` and the run record it left.
#[derive(Debug, Clone)]
pub struct SyncRun {
    pub child: ChildRun,
    pub mode: String,
    pub outcome: String,
    pub counts: serde_json::Value,
    /// The host's own measure of the run (start of the run record to its end).
    pub duration_ms: i64,
    /// The run's read phase (connector and mappers; the store loading alongside), from its
    /// record's `phases`.
    pub read_s: Option<f64>,
}

impl Usersync {
    /// A fresh folder under `work` with the connector and mapper plugins from `plugins`, and a
    /// config whose job `directory` reads `slapd` with the LDAP connector into `store` (made by
    /// `store_in` from the folder).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        launcher: &Arc<Launcher>,
        bin: &Path,
        plugins: &Path,
        cache: &Path,
        work: &Path,
        name: &str,
        slapd: &Slapd,
        store_in: impl FnOnce(&Path) -> Result<Target>,
    ) -> Result<Usersync> {
        let dir = work.join(name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("plugins"))?;
        for p in ["ldap", "default-mapper"] {
            let src = plugins.join(format!("{p}.wasm"));
            fs::copy(&src, dir.join(format!("plugins/{p}.wasm")))
                .with_context(|| format!("copy {}", src.display()))?;
        }
        let store = store_in(&dir)?;
        let config = dir.join("usersync.toml");
        fs::write(
            &config,
            config_toml(&store.url(), &dir.join("plugins"), cache, slapd),
        )?;
        Ok(Usersync {
            launcher: launcher.clone(),
            runs: Default::default(),
            bin: bin.to_path_buf(),
            dir,
            config,
            store,
        })
    }

    /// Forget everything synced (the next sync starts from an empty store).
    pub fn reset_store(&self) -> Result<()> {
        self.store.reset()
    }

    /// `usersync --config CONFIG ARGS...`, started and measured by the launcher helper.
    pub fn run(&self, args: &[&str]) -> Result<ChildRun> {
        // every run's output is kept beside the store: 1-sync.stdout, 1-sync.stderr, ...
        let n = self.runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let out_path = self.dir.join(format!("{n}-{}.stdout", args[0]));
        let err_path = self.dir.join(format!("{n}-{}.stderr", args[0]));
        let mut argv = vec!["--config".to_string(), self.config.display().to_string()];
        argv.extend(args.iter().map(|a| a.to_string()));
        let log = std::env::var("USERSYNC_BENCH_LOG").unwrap_or_else(|_| "warn".into());
        let m = self
            .launcher
            .run(
                &self.bin,
                &argv,
                &[("USERSYNC_LOG".into(), log)],
                &out_path,
                &err_path,
            )
            .with_context(|| format!("run {}", self.bin.display()))?;
        Ok(ChildRun {
            wall_s: m.wall_s,
            cpu_s: m.cpu_s,
            max_rss_mb: m.max_rss_mb,
            exit: m.exit,
            stdout: fs::read_to_string(&out_path).unwrap_or_default(),
            stderr: fs::read_to_string(&err_path).unwrap_or_default(),
        })
    }

    /// Compile the plugins into the cache (the first start of a host does), so no measured run
    /// pays for it.
    pub fn warm_up(&self) -> Result<()> {
        let r = self.run(&["plugins", "list"])?;
        if r.exit != 0 {
            bail!(
                "usersync plugins list failed ({}): {}",
                r.exit,
                tail(&r.stderr)
            );
        }
        if !r.stdout.contains("ldap") {
            bail!(
                "usersync does not list the ldap plugin: {}{}",
                r.stdout,
                tail(&r.stderr)
            );
        }
        Ok(())
    }

    /// `usersync sync --job directory [--full]`.
    pub fn sync(&self, rt: &tokio::runtime::Runtime, full: bool) -> Result<SyncRun> {
        let mut args = vec!["sync", "--job", JOB];
        if full {
            args.push("--full");
        }
        let child = self.run(&args)?;
        if child.exit != 0 {
            bail!(
                "`usersync {}` exited with {}: {}{}",
                args.join(" "),
                child.exit,
                tail(&child.stdout),
                tail(&child.stderr)
            );
        }
        let (mode, outcome, counts, duration_ms, phases) = rt.block_on(async {
            let pool = self.store.open().await?;
            let last = pool.last_run().await;
            pool.close().await;
            last
        })?;
        Ok(SyncRun {
            child,
            mode,
            outcome,
            counts: serde_json::from_str(&counts.unwrap_or_default())
                .unwrap_or(serde_json::Value::Null),
            duration_ms: duration_ms.unwrap_or(0),
            read_s: phases
                .and_then(|p| serde_json::from_str::<serde_json::Value>(&p).ok())
                .and_then(|p| p["read_ms"].as_f64())
                .map(|ms| ms / 1000.0),
        })
    }
}

pub fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

fn config_toml(store_url: &str, plugins: &Path, cache: &Path, slapd: &Slapd) -> String {
    format!(
        r#"# written by usersync-bench
[store]
url = "{store_url}"

[plugins]
dir = "{plugins}"
cache_dir = "{cache}"

[limits]
# the host holds a read whole: 1M users need more than the default 256 MiB
max_read_mb = 4096

[[jobs]]
id = "{JOB}"
connector = "ldap"
mappers = ["default-mapper"]

[jobs.ldap]
url = "{url}"
tls = "none"
bind_dn = "{bind_dn}"
bind_password = {{ value = "{password}" }}

[jobs.source]
preset = "openldap"
users_base = "{people}"
groups_base = "{groups}"
disabled_attribute = "employeeType"
disabled_value = "disabled"
page_size = 1000
incremental = "auto"

[jobs.sync]
# the bench's change sets deactivate a few hundred users at 100k; it measures speed, not the
# safety stop
deactivate_threshold = 1000000
deactivate_threshold_percent = 100
"#,
        plugins = plugins.display(),
        cache = cache.display(),
        url = slapd.ldap_url(),
        bind_dn = slapd.admin_dn(),
        password = slapd.admin_password(),
        people = slapd.people_dn(),
        groups = slapd.groups_dn(),
    )
}
