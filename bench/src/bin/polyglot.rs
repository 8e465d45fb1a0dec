//! Side by side: the Rust default-mapper, and the same `hr-mapper` written
//! in Python (componentize-py) and JavaScript (componentize-js), run in
//! process through the usersync-host library on the same records. Prints
//! and writes (`--json PATH`) for each: the .wasm size, the first load
//! (compile) and a cached load, instantiate + configure, and µs per mapped
//! record. Run by `bash bench/polyglot.sh`, which builds the plugins first.

/// As the `usersync` binary: the library leaves the allocator to the program.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use clap::Parser;
use serde_json::{json, Value};
use usersync_host::config::Limits;
use usersync_host::runtime::{
    CallContext, MapperInstance, Runtime, WireAttribute, WireKind, WireObject, WireValue,
};

#[derive(Parser)]
#[command(
    about = "Per-record cost and instantiate time of the Rust, Python and JavaScript mappers"
)]
struct Args {
    /// Records mapped per pass (in batches of 500; median of 3 passes).
    #[arg(long, default_value_t = 10_000)]
    records: usize,
    /// Write the figures here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// (label, built file, [mapping] JSON, instantiations to time)
const MAPPERS: [(&str, &str, &str, usize); 3] = [
    (
        "rust default-mapper",
        "target/plugins/default-mapper.wasm",
        r#"{"username":{"from":"uid","case":"lower"},"display_name":"{givenName} {sn}","department":"{departmentNumber}","custom":{"hire_date":"{hireDate}"}}"#,
        200,
    ),
    (
        "python hr-mapper",
        "target/example-plugins/python-mapper.wasm",
        r#"{"departments":{"MKT":"Marketing"}}"#,
        20,
    ),
    (
        "js hr-mapper",
        "target/example-plugins/js-mapper.wasm",
        r#"{"departments":{"MKT":"Marketing"}}"#,
        20,
    ),
];

fn text(name: &str, v: impl Into<String>) -> WireAttribute {
    WireAttribute {
        name: name.into(),
        values: vec![WireValue::Text(v.into())],
    }
}

/// A directory user with the attributes hr-mapper reads (9 attributes).
fn record(i: usize) -> WireObject {
    let department = ["ENG", "FIN", "OPS", "SAL"][i % 4];
    let kind = if i.is_multiple_of(5) {
        "contractor"
    } else {
        "employee"
    };
    WireObject {
        kind: WireKind::User,
        id: format!("{i:08}"),
        ref_key: String::new(),
        enabled: true,
        attributes: vec![
            text("uid", format!("user{i}")),
            text("givenName", "Zoë"),
            text("sn", format!("Ågren{i}")),
            text("mail", format!("User{i}@Example.com")),
            text("title", "Engineer"),
            text("departmentNumber", department),
            text("hireDate", "2024-01-15"),
            text("employeeType", kind),
            text("employeeNumber", format!("E{i}")),
        ],
        member_of: vec!["Staff".into()],
        members: vec![],
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    v[v.len() / 2]
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn measure(
    root: &Path,
    file: &str,
    mapping: &str,
    instances: usize,
    records: usize,
) -> Result<Value> {
    let wasm = root.join(file);
    ensure!(
        wasm.exists(),
        "{} is missing: run `bash bench/polyglot.sh` (it builds the plugins first)",
        wasm.display()
    );
    let size = std::fs::metadata(&wasm)?.len();
    let cache = tempfile::tempdir()?;

    // First load compiles; a second runtime on the same folder loads the cached native code.
    let t = Instant::now();
    let rt = Runtime::new(cache.path())?;
    rt.load(&wasm)
        .with_context(|| format!("load {}", wasm.display()))?;
    let compile_ms = ms(t);
    let t = Instant::now();
    let rt = Runtime::new(cache.path())?;
    let plugin = rt.load(&wasm)?;
    let cached_load_ms = ms(t);

    let limits = Limits::default();
    let mut inst_us = Vec::new();
    for _ in 0..instances {
        let t = Instant::now();
        let m = MapperInstance::new(&rt, &plugin, &limits, CallContext::default(), mapping)?;
        inst_us.push(t.elapsed().as_secs_f64() * 1e6);
        drop(m);
    }

    let batches: Vec<Vec<WireObject>> = (0..records)
        .collect::<Vec<_>>()
        .chunks(500)
        .map(|c| c.iter().map(|&i| record(i)).collect())
        .collect();
    let mut m = MapperInstance::new(&rt, &plugin, &limits, CallContext::default(), mapping)?;
    let mut passes = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        for b in &batches {
            let out = m.map_users(b)?;
            ensure!(out.len() == b.len(), "one result per record");
        }
        passes.push(t.elapsed().as_secs_f64() * 1e6 / records as f64);
    }
    let us_per_record = median(passes);
    Ok(json!({
        "wasm_bytes": size,
        "first_load_ms": compile_ms,
        "cached_load_ms": cached_load_ms,
        "instantiate_configure_us": median(inst_us),
        "us_per_record": us_per_record,
        "seconds_per_100k_records": us_per_record * 0.1,
    }))
}

fn main() -> Result<()> {
    let args = Args::parse();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut out = json!({ "records": args.records, "batch": 500 });
    println!(
        "{:<22} {:>9} {:>12} {:>12} {:>14} {:>10} {:>12}",
        "mapper", "wasm KiB", "compile ms", "cached ms", "instance µs", "µs/record", "s per 100k"
    );
    for (label, file, mapping, instances) in MAPPERS {
        let f = measure(&root, file, mapping, instances, args.records)?;
        println!(
            "{:<22} {:>9} {:>12.0} {:>12.1} {:>14.0} {:>10.2} {:>12.2}",
            label,
            f["wasm_bytes"].as_u64().unwrap_or_default() / 1024,
            f["first_load_ms"].as_f64().unwrap_or_default(),
            f["cached_load_ms"].as_f64().unwrap_or_default(),
            f["instantiate_configure_us"].as_f64().unwrap_or_default(),
            f["us_per_record"].as_f64().unwrap_or_default(),
            f["seconds_per_100k_records"].as_f64().unwrap_or_default(),
        );
        out[label] = f;
    }
    if let Some(path) = args.json {
        std::fs::write(&path, serde_json::to_string_pretty(&out)? + "\n")?;
        println!("figures written to {}", path.display());
    }
    Ok(())
}
