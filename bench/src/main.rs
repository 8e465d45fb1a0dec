//! usersync's benchmark harness: a generated directory (default 100,000 users / 5,000 groups)
//! in a throwaway slapd, synced into SQLite by the release `usersync` binary with the LDAP
//! connector, each figure a ratio to a floor measured in the same run (a plain paged
//! `ldapsearch` dump of the same entries and attributes). Also: peak memory, per-record mapper
//! and instantiate cost, ldap2pg on the same data, and scaling.
//!
//! `bash bench/run.sh [--users N] [--groups G] [--smoke] [--with-1m] [--skip-ldap2pg] ...`
//! (see `--help`, bench/README.md and bench/RESULTS.md).
//!
//! This file is the order of the steps; the parts live in their modules: `args` (command line),
//! `paired` (timed syncs beside the floor), `incremental`, `compare` (ldap2pg, scaling),
//! `machine`.

/// As the `usersync` binary: the library leaves the allocator to the program.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod args;
mod compare;
mod directory;
mod incremental;
mod launcher;
mod ldap2pg;
mod machine;
mod main_size;
mod micro;
mod paired;
mod report;
mod runner;
mod serve;
mod settle;
mod store;
mod verify;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use anyhow::{bail, Result};
use serde_json::{json, Value};

use args::Args;
use directory::Directory;
use launcher::Launcher;
use paired::timed_syncs;
use report::{Row, Status};
use runner::Usersync;
use store::{Kind, Target};

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--launcher") {
        if let Err(e) = launcher::serve() {
            eprintln!("usersync-bench launcher: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    if let Err(e) = real_main() {
        eprintln!("usersync-bench: {e:#}");
        std::process::exit(1);
    }
}

/// Progress on stderr, so stdout keeps only the final table.
fn say(msg: impl AsRef<str>) {
    eprintln!("[bench] {}", msg.as_ref());
}

/// What every step shares: the options and the machinery set up once.
struct Bench {
    root: PathBuf,
    args: Args,
    launcher: Arc<Launcher>,
    rt: tokio::runtime::Runtime,
    cache: PathBuf,
    work: PathBuf,
    /// The throwaway PostgreSQL cluster, started the first time a step needs it.
    postgres: OnceLock<Arc<ldap_harness::Postgres>>,
}

impl Bench {
    /// A warmed-up usersync installation named `name` reading `d` into a store of `kind` (warm
    /// so the first timed run does not pay for the plugin cache).
    fn usersync(&self, name: &str, d: &Directory, kind: Kind) -> Result<Usersync> {
        let server = match kind {
            Kind::Sqlite => None,
            Kind::Postgres => Some(self.postgres()?),
        };
        let us = Usersync::new(
            &self.launcher,
            &self.args.usersync,
            &self.args.plugins,
            &self.cache,
            &self.work,
            name,
            &d.slapd,
            |dir| Target::new(kind, dir, server.as_ref()),
        )?;
        us.warm_up()?;
        Ok(us)
    }

    fn postgres(&self) -> Result<Arc<ldap_harness::Postgres>> {
        if let Some(pg) = self.postgres.get() {
            return Ok(pg.clone());
        }
        say("starting a throwaway PostgreSQL on loopback");
        let pg = Arc::new(ldap_harness::Postgres::start()?);
        Ok(self.postgres.get_or_init(|| pg).clone())
    }
}

/// What a row's name adds for a store: nothing for the embedded default (the names the results
/// have always had), the store's name for PostgreSQL.
pub fn store_suffix(kind: Kind) -> &'static str {
    match kind {
        Kind::Sqlite => "",
        Kind::Postgres => ", PostgreSQL",
    }
}

/// What the steps produce: the JSON figures, the table's rows, the failed checks (which fail
/// the run) and the scaling points (reported last, smallest first).
struct Findings {
    out: Value,
    rows: Vec<Row>,
    failures: Vec<String>,
    scaling: Vec<Value>,
}

fn real_main() -> Result<()> {
    let root = args::repo_root();
    let args = Args::from_command_line();
    // first, while this process is small: see launcher.rs
    let launcher = Arc::new(Launcher::start()?);
    let started = Instant::now();
    if args.ldap2pg_only {
        return compare::ldap2pg_only(&root, &args);
    }
    check_built(&args)?;
    ldap_harness::ensure_slapd_installed()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let work_tmp = tempfile::Builder::new()
        .prefix("usersync-bench")
        .tempdir()?;
    // USERSYNC_BENCH_KEEP=1 keeps the configs and stores for a look afterwards
    let (work, _work_guard) = if std::env::var_os("USERSYNC_BENCH_KEEP").is_some() {
        let p = work_tmp.keep();
        say(format!("keeping {} (USERSYNC_BENCH_KEEP)", p.display()));
        (p, None)
    } else {
        (work_tmp.path().to_path_buf(), Some(work_tmp))
    };
    let mut f = Findings {
        out: json!({
            "machine": machine::machine(),
            "commit": machine::git_commit(&root),
            "args": {
                "users": args.users, "groups": args.groups, "changes": args.changes,
                "repeat": args.repeat, "seed": args.seed, "smoke": args.smoke,
            },
        }),
        rows: Vec::new(),
        failures: Vec::new(),
        scaling: Vec::new(),
    };
    let b = Bench {
        cache: root.join("target/bench-cache"),
        root,
        args,
        launcher,
        rt,
        work,
        postgres: OnceLock::new(),
    };
    if b.args.serve {
        return serve::serve(&b);
    }
    micro_rows(&b, &mut f)?;
    small_directory(&b, &mut f)?;
    main_size::main_directory(&b, &mut f)?;
    scaling_1m(&b, &mut f)?;
    final_report(&b, f, started)
}

/// Fails early, naming the build step, when the usersync binary or a plugin is missing.
fn check_built(args: &Args) -> Result<()> {
    for (what, p) in [
        (
            "the usersync binary (cargo build --release -p usersync-host)",
            args.usersync.clone(),
        ),
        (
            "the default-mapper plugin (bash scripts/build-plugins.sh)",
            args.plugins.join("default-mapper.wasm"),
        ),
        (
            "the ldap connector plugin (bash scripts/build-plugins.sh)",
            args.plugins.join("ldap.wasm"),
        ),
    ] {
        if !p.exists() {
            bail!(
                "{} is missing: build {what}, or run `bash bench/run.sh`",
                p.display()
            );
        }
    }
    Ok(())
}

/// Row 5: per-record mapper and instantiate cost (in process).
fn micro_rows(b: &Bench, f: &mut Findings) -> Result<()> {
    say("mapper micro-benchmark");
    let records = if b.args.smoke { 10_000 } else { 100_000 };
    let m = micro::measure(&b.root, &b.args.plugins, records)?;
    let figure = |key: &str| m[key].as_f64().unwrap_or(f64::NAN);
    f.rows.push(Row::target(
        "mapper call, 7-attribute record",
        figure("mapper_us_per_record_7_attributes"),
        "µs",
        2.0,
        "≤ 2 µs",
    ));
    f.rows.push(Row::target(
        "mapper call, LDAP user (15 attributes)",
        figure("mapper_us_per_record_ldap_user"),
        "µs",
        3.0,
        "≤ 3 µs",
    ));
    f.rows.push(Row::target(
        "mapper instantiate + configure",
        figure("instantiate_us"),
        "µs",
        100.0,
        "≤ 100 µs",
    ));
    f.out["micro"] = m;
    Ok(())
}

/// Rows 6 + 7 (small size): ldap2pg and the first scaling point on one directory, skipped when
/// neither is wanted or the main size is the same.
fn small_directory(b: &Bench, f: &mut Findings) -> Result<()> {
    let args = &b.args;
    let small_users = if args.skip_ldap2pg {
        10_000
    } else {
        args.ldap2pg_users
    };
    if (args.skip_ldap2pg && args.skip_scaling) || small_users == args.users {
        return Ok(());
    }
    let small_groups = (small_users / 20).max(1);
    say(format!(
        "directory {small_users} users / {small_groups} groups"
    ));
    let d = Directory::start(small_users, small_groups, args.seed)?;
    let us = b.usersync("small", &d, Kind::Sqlite)?;
    let full = timed_syncs(&d, &us, &b.rt, args.repeat, true, "full sync")?;
    let noop = timed_syncs(&d, &us, &b.rt, args.repeat, false, "no-op re-sync")?;
    if !args.skip_scaling {
        f.scaling.push(compare::scaling_point(&d, &full));
    }
    if !args.skip_ldap2pg {
        match compare::ldap2pg_compare(&b.root, &b.work, &d, &full, &noop) {
            Ok((v, r)) => {
                f.out["ldap2pg"] = v;
                f.rows.extend(r);
            }
            Err(e) => {
                say(format!("ldap2pg comparison failed: {e:#}"));
                f.out["ldap2pg"] = json!({ "error": format!("{e:#}") });
                f.failures.push(format!("ldap2pg: {e:#}"));
            }
        }
    }
    Ok(())
}

/// Row 7 (`--with-1m`): one full sync of 1,000,000 users, after the main directory is gone so the
/// two never share the machine.
fn scaling_1m(b: &Bench, f: &mut Findings) -> Result<()> {
    if !b.args.with_1m || b.args.skip_scaling {
        return Ok(());
    }
    say("directory 1,000,000 users / 50,000 groups (scaling)");
    let d = Directory::start(1_000_000, 50_000, b.args.seed)?;
    let us = b.usersync("1m", &d, Kind::Sqlite)?;
    let full = timed_syncs(&d, &us, &b.rt, 1, true, "full sync")?;
    f.scaling.push(compare::scaling_point(&d, &full));
    Ok(())
}

/// The scaling rows, the JSON file, then the table on stdout; errors when a check failed.
fn final_report(b: &Bench, f: Findings, started: Instant) -> Result<()> {
    let args = &b.args;
    let Findings {
        mut out,
        mut rows,
        failures,
        scaling,
    } = f;
    for s in &scaling {
        rows.push(Row::info(
            &format!("7. full sync at {} users", s["users"]),
            &format!(
                "{:.2} s, {:.1} µs/user (floor {:.1} µs/user, {:.2}×), peak {:.0} MB",
                s["usersync_s"].as_f64().unwrap_or(0.0),
                s["usersync_us_per_user"].as_f64().unwrap_or(0.0),
                s["floor_us_per_user"].as_f64().unwrap_or(0.0),
                s["ratio"].as_f64().unwrap_or(0.0),
                s["max_rss_mb"].as_f64().unwrap_or(0.0),
            ),
        ));
    }
    if !scaling.is_empty() {
        out["scaling"] = Value::Array(scaling);
    }
    out["rows"] = Value::Array(rows.iter().map(Row::to_json).collect());
    out["failures"] = json!(failures);
    out["bench_seconds"] = json!(started.elapsed().as_secs_f64());
    if let Some(dir) = args.json.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.json, serde_json::to_string_pretty(&out)?)?;

    println!();
    println!(
        "usersync benchmark: {} users / {} groups, {} sample(s) per step, commit {}",
        args.users,
        args.groups,
        args.repeat,
        out["commit"].as_str().unwrap_or("?")
    );
    println!("{}", report::table(&rows));
    let missed = rows.iter().filter(|r| r.status == Status::Missed).count();
    println!(
        "{} of {} targets met; figures in {} ({:.0} s in all)",
        rows.iter().filter(|r| r.status == Status::Met).count(),
        rows.iter().filter(|r| r.status != Status::Info).count(),
        args.json.display(),
        started.elapsed().as_secs_f64()
    );
    if missed > 0 {
        println!("missed targets are explained in bench/RESULTS.md");
    }
    if !failures.is_empty() {
        for f in &failures {
            eprintln!("FAILED: {f}");
        }
        bail!("{} check(s) failed", failures.len());
    }
    Ok(())
}
