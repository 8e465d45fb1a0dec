//! Benchmark: full sync of a generated CSV directory into SQLite, then a
//! no-op re-sync, through the real plugins.
//!
//! `cargo bench -p usersync-host --bench csv_sync` (after
//! `bash scripts/build-plugins.sh`). `USERSYNC_BENCH_USERS` / `_GROUPS`
//! change the size (default 100,000 / 5,000).

/// As the `usersync` binary: the library leaves the allocator to the program.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use usersync_host::config::Config;
use usersync_host::sync::{Host, SyncRequest};

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Deterministic pseudo-random numbers (xorshift), no dependency needed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f64 {
        (self.next() % 1_000_000) as f64 / 1_000_000.0
    }
}

/// Users with unicode names, multi-valued mail, managers, ~1% disabled, and
/// power-law group sizes (group 0 holds half of everyone).
fn generate(users: usize, groups: usize) -> (String, usize) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = String::with_capacity(users * 160);
    out.push_str("id,uid,givenName,sn,mail,title,department,manager,active,groups\n");
    let mut memberships = 0;
    for i in 0..users {
        let mut gs: Vec<usize> = Vec::new();
        if i % 2 == 0 {
            gs.push(0);
        }
        for _ in 0..(1 + rng.next() % 6) {
            let g = ((rng.unit().powi(3)) * groups as f64) as usize;
            if !gs.contains(&g) {
                gs.push(g.min(groups - 1));
            }
        }
        memberships += gs.len();
        let groups_col: Vec<String> = gs.iter().map(|g| format!("Group {g}")).collect();
        let manager = if i > 10 {
            format!("E{}", i / 10)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "E{i},user{i},Zoë{i},\"Ångström, {i}\",user{i}@example.com;u{i}@alias.example.com,Engineer,Dept {},{manager},{},{}",
            i % 40,
            if i % 100 == 7 { "false" } else { "true" },
            groups_col.join(";")
        );
    }
    (out, memberships)
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("USERSYNC_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let users = env_num("USERSYNC_BENCH_USERS", 100_000);
    let groups = env_num("USERSYNC_BENCH_GROUPS", 5_000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    for p in ["csv", "default-mapper"] {
        let src = root.join(format!("target/plugins/{p}.wasm"));
        assert!(src.exists(), "run `bash scripts/build-plugins.sh` first");
        std::fs::copy(src, dir.path().join(format!("plugins/{p}.wasm"))).unwrap();
    }
    let (csv, memberships) = generate(users, groups);
    std::fs::write(dir.path().join("data/people.csv"), &csv).unwrap();
    let config = format!(
        r#"
[store]
url = "sqlite://bench.db"
[plugins]
dir = "plugins"
cache_dir = "{}"
[[jobs]]
id = "people"
connector = "csv"
[jobs.grants]
input_dir = "data"
[jobs.source]
path = "/input/people.csv"
id_column = "id"
enabled_column = "active"
groups_column = "groups"
multi_valued = ["mail"]
"#,
        root.join("target/bench-cache").display()
    );
    let config = Config::parse(&config, "bench", dir.path().to_path_buf()).unwrap();
    let host = Host::open(config).await.unwrap();
    let req = SyncRequest {
        job: "people".into(),
        ..Default::default()
    };

    let t = Instant::now();
    let full = host.sync(&req).await.unwrap();
    let full_s = t.elapsed().as_secs_f64();
    let c = full.plan.counts();
    assert_eq!(
        c.created as usize + users / 100,
        users,
        "every enabled user is created"
    );

    let t = Instant::now();
    let noop = host.sync(&req).await.unwrap();
    let noop_s = t.elapsed().as_secs_f64();
    assert!(
        noop.plan.is_noop(),
        "re-sync of an unchanged source changes nothing"
    );

    println!("csv sync benchmark: {users} users, {groups} groups, {memberships} direct memberships ({:.1} MB of CSV)", csv.len() as f64 / 1e6);
    println!("  full sync into SQLite:  {full_s:.2} s  ({:.1} µs/user; {} users, {} groups, {} memberships created)", full_s * 1e6 / users as f64, c.created, c.groups_created, c.memberships_added);
    println!(
        "  no-op re-sync:          {noop_s:.2} s  ({:.2}× the full sync)",
        noop_s / full_s
    );
    println!("  peak resident memory:   {:.0} MB", peak_rss_mb());
}
