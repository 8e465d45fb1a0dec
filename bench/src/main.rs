//! usersync's benchmark harness: a generated directory (default 100,000 users / 5,000 groups)
//! in a throwaway slapd, synced into SQLite by the release `usersync` binary with the LDAP
//! connector, each figure a ratio to a floor measured in the same run (a plain paged
//! `ldapsearch` dump of the same entries and attributes). Also: peak memory, per-record mapper
//! and instantiate cost, ldap2pg on the same data, and scaling.
//!
//! `bash bench/run.sh [--users N] [--groups G] [--smoke] [--with-1m] [--skip-ldap2pg] ...`
//! (see `--help`, bench/README.md and bench/RESULTS.md).

mod directory;
mod launcher;
mod ldap2pg;
mod micro;
mod report;
mod runner;
mod verify;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use directory::Directory;
use report::{Row, Status};
use runner::{SyncRun, Usersync};

const HELP: &str =
    "usersync-bench: usersync against ldapsearch and ldap2pg, as ratios measured in one run

usage: bash bench/run.sh [options]      (builds the plugins and the release host first)
       usersync-bench [options]

  --users N          directory size (default 100000)
  --groups G         groups (default 5000)
  --changes K        changes for the incremental sync (default 1000)
  --repeat R         samples of each timed step, side by side with the floor (default 3)
  --seed S           generator seed (default 1)
  --smoke            tiny and quick: 1000 users, 50 groups, 100 changes, 1 sample, no ldap2pg,
                     no scaling; fails unless the store equals the directory
  --skip-ldap2pg     leave out the ldap2pg comparison
  --ldap2pg-users N  ldap2pg comparison size (default 10000, groups N/20)
  --ldap2pg-dry-100k also time ldap2pg --dry (reads and diffs, changes nothing) at the main size
  --skip-scaling     leave out the 10k (and 1M) scaling points
  --with-1m          add a 1,000,000-user scaling point (slow: minutes, ~2 GB of disk)
  --ldap2pg-only     only time ldap2pg at --ldap2pg-users (no usersync, no plugins needed)
  --json PATH        where to write the figures (default bench/results.json)
  --usersync PATH    the usersync binary (default target/release/usersync)
  --plugins DIR      folder with ldap.wasm and default-mapper.wasm (default target/plugins)
";

#[derive(Debug, Clone)]
struct Args {
    users: usize,
    groups: usize,
    changes: usize,
    repeat: usize,
    seed: u64,
    smoke: bool,
    skip_ldap2pg: bool,
    ldap2pg_users: usize,
    ldap2pg_dry_main: bool,
    skip_scaling: bool,
    with_1m: bool,
    ldap2pg_only: bool,
    json: PathBuf,
    usersync: PathBuf,
    plugins: PathBuf,
}

fn parse_args(root: &Path) -> Result<Args> {
    let mut a = Args {
        users: 100_000,
        groups: 5_000,
        changes: 1_000,
        repeat: 3,
        seed: 1,
        smoke: false,
        skip_ldap2pg: false,
        ldap2pg_users: 10_000,
        ldap2pg_dry_main: false,
        skip_scaling: false,
        with_1m: false,
        ldap2pg_only: false,
        json: root.join("bench/results.json"),
        usersync: root.join("target/release/usersync"),
        plugins: root.join("target/plugins"),
    };
    let mut users_set = false;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--users" => {
                a.users = value()?.parse()?;
                users_set = true;
            }
            "--groups" => a.groups = value()?.parse()?,
            "--changes" => a.changes = value()?.parse()?,
            "--repeat" => a.repeat = value()?.parse::<usize>()?.max(1),
            "--seed" => a.seed = value()?.parse()?,
            "--smoke" => a.smoke = true,
            "--skip-ldap2pg" => a.skip_ldap2pg = true,
            "--ldap2pg-users" => a.ldap2pg_users = value()?.parse()?,
            "--ldap2pg-dry-100k" => a.ldap2pg_dry_main = true,
            "--skip-scaling" => a.skip_scaling = true,
            "--with-1m" => a.with_1m = true,
            "--ldap2pg-only" => a.ldap2pg_only = true,
            "--json" => a.json = value()?.into(),
            "--usersync" => a.usersync = value()?.into(),
            "--plugins" => a.plugins = value()?.into(),
            "-h" | "--help" => {
                print!("{HELP}");
                std::process::exit(0);
            }
            other => bail!("unknown option {other:?}\n\n{HELP}"),
        }
    }
    if a.smoke {
        if !users_set {
            a.users = 1_000;
            a.groups = 50;
        }
        a.changes = a.changes.min(100);
        a.repeat = 1;
        a.skip_ldap2pg = true;
        a.skip_scaling = true;
    }
    Ok(a)
}

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

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    v[v.len() / 2]
}

fn say(msg: impl AsRef<str>) {
    eprintln!("[bench] {}", msg.as_ref());
}

/// Timed usersync runs, each next to a floor measurement.
struct Paired {
    floors: Vec<f64>,
    runs: Vec<SyncRun>,
}

impl Paired {
    fn times(&self) -> Vec<f64> {
        self.runs.iter().map(|r| r.child.wall_s).collect()
    }
    /// Median of the per-pair ratios (each run divided by the floor measured beside it).
    fn ratio(&self) -> f64 {
        median(
            self.runs
                .iter()
                .zip(&self.floors)
                .map(|(r, f)| r.child.wall_s / f)
                .collect(),
        )
    }
    fn max_rss(&self) -> f64 {
        self.runs
            .iter()
            .map(|r| r.child.max_rss_mb)
            .fold(0.0, f64::max)
    }
    fn to_json(&self) -> Value {
        json!({
            "usersync_s": self.times(),
            "usersync_median_s": median(self.times()),
            "usersync_cpu_s": self.runs.iter().map(|r| r.child.cpu_s).collect::<Vec<_>>(),
            "host_duration_ms": self.runs.iter().map(|r| r.duration_ms).collect::<Vec<_>>(),
            "floor_s": self.floors,
            "floor_median_s": median(self.floors.clone()),
            "ratio": self.ratio(),
            "max_rss_mb": self.runs.iter().map(|r| r.child.max_rss_mb).collect::<Vec<_>>(),
            "mode": self.runs.first().map(|r| r.mode.clone()),
            "outcome": self.runs.first().map(|r| r.outcome.clone()),
            "counts": self.runs.last().map(|r| r.counts.clone()),
        })
    }
}

/// `repeat` × (floor, then a full sync into an empty store).
fn full_syncs(
    d: &Directory,
    us: &Usersync,
    rt: &tokio::runtime::Runtime,
    repeat: usize,
) -> Result<Paired> {
    let mut p = Paired {
        floors: Vec::new(),
        runs: Vec::new(),
    };
    for i in 0..repeat {
        let floor = d.floor()?;
        us.reset_store();
        let run = us.sync(rt, true)?;
        say(format!(
            "  full sync {}/{repeat}: {:.2} s (floor {:.2} s, {:.2}×), peak RSS {:.0} MB",
            i + 1,
            run.child.wall_s,
            floor,
            run.child.wall_s / floor,
            run.child.max_rss_mb
        ));
        p.floors.push(floor);
        p.runs.push(run);
    }
    Ok(p)
}

/// `repeat` × (floor, then a full re-sync of an unchanged directory).
fn noop_syncs(
    d: &Directory,
    us: &Usersync,
    rt: &tokio::runtime::Runtime,
    repeat: usize,
) -> Result<Paired> {
    let mut p = Paired {
        floors: Vec::new(),
        runs: Vec::new(),
    };
    for i in 0..repeat {
        let floor = d.floor()?;
        let run = us.sync(rt, true)?;
        say(format!(
            "  no-op re-sync {}/{repeat}: {:.2} s (floor {:.2} s, {:.2}×), peak RSS {:.0} MB",
            i + 1,
            run.child.wall_s,
            floor,
            run.child.wall_s / floor,
            run.child.max_rss_mb
        ));
        p.floors.push(floor);
        p.runs.push(run);
    }
    Ok(p)
}

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|s| s.trim_start_matches([' ', '\t', ':']).to_string());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gb = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|s| s.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| (kb / 1024.0 / 1024.0 * 10.0).round() / 10.0);
    let cmd = |c: &str, args: &[&str]| {
        std::process::Command::new(c)
            .args(args)
            .output()
            .ok()
            .map(|o| {
                let s = format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                );
                s.lines().next().unwrap_or("").trim().to_string()
            })
    };
    json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu_model": cpu,
        "memory_gb": mem_gb,
        "kernel": cmd("uname", &["-sr"]),
        "os": std::fs::read_to_string("/etc/os-release").ok().and_then(|s| s.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string()))),
        "slapd": cmd("slapd", &["-VV"]),
        "load_average_at_start": std::fs::read_to_string("/proc/loadavg").ok().map(|s| s.trim().to_string()),
    })
}

fn git_commit(root: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()?;
    let head = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let dirty = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .is_some_and(|o| !o.stdout.is_empty());
    Some(if dirty {
        format!("{head} (with uncommitted changes)")
    } else {
        head
    })
}

fn real_main() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ has a parent")
        .to_path_buf();
    let args = parse_args(&root)?;
    // first, while this process is small: see launcher.rs
    let launcher = std::sync::Arc::new(launcher::Launcher::start()?);
    let started = Instant::now();
    if args.ldap2pg_only {
        let n = args.ldap2pg_users;
        let d = Directory::start(n, (n / 20).max(1), args.seed)?;
        let work = tempfile::Builder::new()
            .prefix("usersync-bench")
            .tempdir()?;
        let bin = ldap2pg::venv(&root)?;
        let pg = ldap2pg::Postgres::start()?;
        for run in ["first", "second"] {
            let r = ldap2pg::sync(&bin, work.path(), &d.slapd, &pg)?;
            println!("ldap2pg {run} run at {n} users: {:.2} s ({} login roles, {} group roles, {} memberships)", r.wall_s, r.login_roles, r.group_roles, r.memberships);
        }
        let f = d.floor()?;
        println!("floor (ldapsearch dump): {f:.2} s");
        return Ok(());
    }
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
    let cache = root.join("target/bench-cache");
    let mut out = json!({
        "machine": machine(),
        "commit": git_commit(&root),
        "args": {
            "users": args.users, "groups": args.groups, "changes": args.changes,
            "repeat": args.repeat, "seed": args.seed, "smoke": args.smoke,
        },
    });
    let mut rows: Vec<Row> = Vec::new();
    let mut failures: Vec<String> = Vec::new();

    // 5. Per-record mapper and instantiate cost (in process).
    say("mapper micro-benchmark");
    let records = if args.smoke { 10_000 } else { 100_000 };
    let m = micro::measure(&root, &args.plugins, records)?;
    let small = m["mapper_us_per_record_7_attributes"]
        .as_f64()
        .unwrap_or(f64::NAN);
    let ldap = m["mapper_us_per_record_ldap_user"]
        .as_f64()
        .unwrap_or(f64::NAN);
    let inst = m["instantiate_us"].as_f64().unwrap_or(f64::NAN);
    rows.push(Row::target(
        "mapper call, 7-attribute record",
        small,
        "µs",
        2.0,
        "≤ 2 µs",
    ));
    rows.push(Row::target(
        "mapper call, LDAP user (15 attributes)",
        ldap,
        "µs",
        2.0,
        "≤ 2 µs",
    ));
    rows.push(Row::target(
        "mapper instantiate + configure",
        inst,
        "µs",
        100.0,
        "≤ 100 µs",
    ));
    out["micro"] = m;

    // 6 + 7 (small size): ldap2pg and the first scaling point on one directory.
    let small_users = if args.skip_ldap2pg {
        10_000
    } else {
        args.ldap2pg_users
    };
    let mut scaling: Vec<Value> = Vec::new();
    let want_small = !(args.skip_ldap2pg && args.skip_scaling) && small_users != args.users;
    if want_small {
        let small_groups = (small_users / 20).max(1);
        say(format!(
            "directory {small_users} users / {small_groups} groups"
        ));
        let d = Directory::start(small_users, small_groups, args.seed)?;
        let us = Usersync::new(
            &launcher,
            &args.usersync,
            &args.plugins,
            &cache,
            &work,
            "small",
            &d.slapd,
        )?;
        us.warm_up()?;
        let full = full_syncs(&d, &us, &rt, args.repeat)?;
        let noop = noop_syncs(&d, &us, &rt, args.repeat)?;
        if !args.skip_scaling {
            scaling.push(scaling_point(&d, &full));
        }
        if !args.skip_ldap2pg {
            match ldap2pg_compare(&root, &work, &d, &full, &noop) {
                Ok((v, r)) => {
                    out["ldap2pg"] = v;
                    rows.extend(r);
                }
                Err(e) => {
                    say(format!("ldap2pg comparison failed: {e:#}"));
                    out["ldap2pg"] = json!({ "error": format!("{e:#}") });
                    failures.push(format!("ldap2pg: {e:#}"));
                }
            }
        }
    }

    // 1-4 at the main size.
    say(format!(
        "directory {} users / {} groups",
        args.users, args.groups
    ));
    let d = Directory::start(args.users, args.groups, args.seed)?;
    say(format!(
        "  generated in {:.1} s ({:.0} MB of LDIF, {} memberships), slapadd + start {:.1} s",
        d.generate_s,
        d.stats.bytes as f64 / 1e6,
        d.stats.memberships,
        d.load_s
    ));
    out["directory"] = json!({
        "users": d.stats.users, "groups": d.stats.groups, "memberships": d.stats.memberships,
        "nested_memberships": d.stats.nested_memberships, "disabled_users": d.stats.disabled_users,
        "largest_group": d.stats.largest_group, "ldif_bytes": d.stats.bytes,
        "generate_s": d.generate_s, "slapadd_and_start_s": d.load_s,
        "floor_attributes": { "users": directory::USER_ATTRS, "groups": directory::GROUP_ATTRS },
    });
    let us = Usersync::new(
        &launcher,
        &args.usersync,
        &args.plugins,
        &cache,
        &work,
        "main",
        &d.slapd,
    )?;
    us.warm_up()?;

    let full = full_syncs(&d, &us, &rt, args.repeat)?;
    let full_verdict = verify::verify(&rt, &d.slapd, &us.db)?;
    say(format!(
        "  after the full sync: store equals directory: {} ({} problems)",
        full_verdict.ok(),
        full_verdict.problems
    ));
    if !full_verdict.ok() {
        failures.push(format!(
            "after the full sync the store differs from the directory: {:?}",
            full_verdict.examples
        ));
    }
    rows.push(Row::ratio(
        "1. full sync into SQLite",
        median(full.times()),
        median(full.floors.clone()),
        full.ratio(),
        2.0,
        "≤ 2× floor",
    ));
    let mut full_json = full.to_json();
    full_json["verified"] = full_verdict.to_json();
    out["full"] = full_json;

    let noop = noop_syncs(&d, &us, &rt, args.repeat)?;
    rows.push(Row::ratio(
        "2. no-op re-sync (full read)",
        median(noop.times()),
        median(noop.floors.clone()),
        noop.ratio(),
        1.5,
        "≤ 1.5× floor",
    ));
    out["noop"] = noop.to_json();

    // 3. Incremental: nothing changed, then K mixed changes.
    let inc_noop = us.sync(&rt, false)?;
    say(format!(
        "  incremental, nothing changed: {:.3} s ({})",
        inc_noop.child.wall_s, inc_noop.mode
    ));
    let changes = d.spec.changes(args.changes, args.seed);
    let t = Instant::now();
    d.slapd
        .modify(&changes.ldif)
        .context("apply the changes with ldapmodify")?;
    let apply_s = t.elapsed().as_secs_f64();
    say(format!(
        "  {} applied by ldapmodify in {apply_s:.1} s",
        changes.summary()
    ));
    let inc = us.sync(&rt, false)?;
    let verdict = verify::verify(&rt, &d.slapd, &us.db)?;
    say(format!(
        "  incremental sync: {:.3} s ({} run), store equals directory: {} ({} problems)",
        inc.child.wall_s,
        inc.mode,
        verdict.ok(),
        verdict.problems
    ));
    for e in &verdict.examples {
        say(format!("    {e}"));
    }
    if !verdict.ok() {
        failures.push(format!(
            "after the incremental sync the store differs from the directory: {:?}",
            verdict.examples
        ));
    }
    if inc.mode != "incremental" {
        failures.push(format!(
            "the sync after the changes was a {} run, not incremental",
            inc.mode
        ));
    }
    rows.push(Row::target(
        &format!("3. incremental sync after {} changes", changes.total),
        inc.child.wall_s,
        "s",
        0.5,
        "< 0.5 s",
    ));
    rows.push(Row::check(
        "   store equals directory afterwards",
        verdict.ok(),
        &format!(
            "{} users, {} groups, {} memberships compared",
            verdict.users, verdict.groups, verdict.memberships
        ),
    ));
    out["incremental"] = json!({
        "changes": {
            "total": changes.total, "user_renames": changes.user_renames,
            "group_renames": changes.group_renames, "attribute_edits": changes.attribute_edits,
            "disables": changes.disables, "enables": changes.enables, "deletions": changes.deletions,
            "additions": changes.additions, "membership_adds": changes.membership_adds,
            "membership_removes": changes.membership_removes,
        },
        "ldapmodify_s": apply_s,
        "usersync_s": inc.child.wall_s,
        "host_duration_ms": inc.duration_ms,
        "mode": inc.mode,
        "counts": inc.counts,
        "max_rss_mb": inc.child.max_rss_mb,
        "nothing_changed_s": inc_noop.child.wall_s,
        "nothing_changed_mode": inc_noop.mode,
        "verified": verdict.to_json(),
    });

    // 4. Peak memory of the full sync.
    rows.push(Row::target(
        &format!("4. peak RSS, full sync of {} users", args.users),
        full.max_rss(),
        "MB",
        256.0,
        "≤ 256 MB",
    ));
    out["memory"] = json!({
        "full_sync_max_rss_mb": full.max_rss(),
        "noop_max_rss_mb": noop.max_rss(),
        "incremental_max_rss_mb": inc.child.max_rss_mb,
    });

    if args.ldap2pg_dry_main && !args.skip_ldap2pg {
        match ldap2pg_dry(&root, &work, &d) {
            Ok(v) => out["ldap2pg_dry_main"] = v,
            Err(e) => say(format!("ldap2pg dry run failed: {e:#}")),
        }
    }
    if !args.skip_scaling {
        scaling.push(scaling_point(&d, &full));
    }
    drop(us);
    drop(d);

    if args.with_1m && !args.skip_scaling {
        say("directory 1,000,000 users / 50,000 groups (scaling)");
        let d = Directory::start(1_000_000, 50_000, args.seed)?;
        let us = Usersync::new(
            &launcher,
            &args.usersync,
            &args.plugins,
            &cache,
            &work,
            "1m",
            &d.slapd,
        )?;
        us.warm_up()?;
        let full = full_syncs(&d, &us, &rt, 1)?;
        scaling.push(scaling_point(&d, &full));
    }
    if !scaling.is_empty() {
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

fn scaling_point(d: &Directory, full: &Paired) -> Value {
    let users = d.stats.users as f64;
    let t = median(full.times());
    let f = median(full.floors.clone());
    json!({
        "users": d.stats.users,
        "groups": d.stats.groups,
        "usersync_s": t,
        "usersync_us_per_user": t * 1e6 / users,
        "floor_s": f,
        "floor_us_per_user": f * 1e6 / users,
        "ratio": full.ratio(),
        "max_rss_mb": full.max_rss(),
    })
}

/// ldap2pg on the same directory: first run into an empty cluster, then a second (no-op).
fn ldap2pg_compare(
    root: &Path,
    work: &Path,
    d: &Directory,
    full: &Paired,
    noop: &Paired,
) -> Result<(Value, Vec<Row>)> {
    say("ldap2pg: virtualenv and PostgreSQL cluster");
    let bin = ldap2pg::venv(root)?;
    let pg = ldap2pg::Postgres::start()?;
    let first = ldap2pg::sync(&bin, work, &d.slapd, &pg)?;
    say(format!(
        "  ldap2pg first run: {:.2} s ({} login roles, {} group roles, {} memberships)",
        first.wall_s, first.login_roles, first.group_roles, first.memberships
    ));
    let second = ldap2pg::sync(&bin, work, &d.slapd, &pg)?;
    say(format!(
        "  ldap2pg second run (nothing changed): {:.2} s",
        second.wall_s
    ));
    let u_full = median(full.times());
    let u_noop = median(noop.times());
    let size = format!("{} users / {} groups", d.stats.users, d.stats.groups);
    let rows = vec![
        Row::speedup(
            &format!("6. vs ldap2pg {}, first sync ({size})", ldap2pg::VERSION),
            u_full,
            first.wall_s,
        ),
        Row::speedup("6. vs ldap2pg, no-op re-sync", u_noop, second.wall_s),
    ];
    Ok((
        json!({
            "version": ldap2pg::VERSION,
            "users": d.stats.users,
            "groups": d.stats.groups,
            "compared": "same slapd, same entries: ldap2pg creates a LOGIN role per enabled user, a NOLOGIN role per group and grants every direct membership (memberOf); usersync creates users, groups, effective memberships and audit rows in SQLite",
            "first_run_s": first.wall_s,
            "second_run_s": second.wall_s,
            "login_roles": first.login_roles,
            "group_roles": first.group_roles,
            "role_memberships": first.memberships,
            "usersync_full_median_s": u_full,
            "usersync_noop_median_s": u_noop,
            "speedup_full": first.wall_s / u_full,
            "speedup_noop": second.wall_s / u_noop,
        }),
        rows,
    ))
}

/// ldap2pg at the main size, dry run only (reads LDAP and PostgreSQL, computes, changes nothing).
fn ldap2pg_dry(root: &Path, work: &Path, d: &Directory) -> Result<Value> {
    let bin = ldap2pg::venv(root)?;
    let pg = ldap2pg::Postgres::start()?;
    let yml = work.join("ldap2pg-dry.yml");
    ldap2pg::write_private(&yml, &ldap2pg::config(&d.slapd))?;
    let t = Instant::now();
    let status = std::process::Command::new(&bin)
        .args(["--dry", "--quiet", "--config"])
        .arg(&yml)
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", pg.port.to_string())
        .env("PGUSER", "postgres")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()?;
    let s = t.elapsed().as_secs_f64();
    say(format!(
        "  ldap2pg --dry at {} users: {s:.1} s ({status})",
        d.stats.users
    ));
    Ok(json!({ "users": d.stats.users, "dry_run_s": s, "exit": status.code() }))
}
