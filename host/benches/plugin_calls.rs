//! Micro-benchmark: what one mapped record and one instance cost.
//!
//! `cargo bench -p usersync-host --bench plugin_calls` (after
//! `bash scripts/build-plugins.sh`). Prints per-record and per-instance
//! figures against the targets (≤ 2 µs per mapped record, ≤ 100 µs per
//! instantiate), measured in one run.

/// As the `usersync` binary: the library leaves the allocator to the program.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::Path;
use std::time::Instant;

use usersync_host::config::Limits;
use usersync_host::runtime::{
    CallContext, MapperInstance, Runtime, WireAttribute, WireKind, WireObject, WireValue,
};

fn record(i: usize) -> WireObject {
    let text = |name: &str, v: String| WireAttribute {
        name: name.into(),
        values: vec![WireValue::Text(v)],
    };
    WireObject {
        kind: WireKind::User,
        id: format!("{i:08}"),
        ref_key: String::new(),
        enabled: true,
        attributes: vec![
            text("uid", format!("user{i}")),
            text("givenName", "Zoë".into()),
            text("sn", format!("Ångström{i}")),
            text("mail", format!("user{i}@example.com")),
            text("title", "Engineer".into()),
            text("department", "Research".into()),
            WireAttribute {
                name: "objectGUID".into(),
                values: vec![WireValue::Binary(vec![7; 16])],
            },
        ],
        member_of: vec!["Staff".into()],
        members: vec![],
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let wasm = root.join("target/plugins/default-mapper.wasm");
    assert!(wasm.exists(), "run `bash scripts/build-plugins.sh` first");
    let rt = Runtime::new(&root.join("target/bench-cache")).unwrap();
    let plugin = rt.load(&wasm).unwrap();
    let limits = Limits::default();
    let mapping = r#"{"username":{"from":"uid","case":"lower"},"display_name":"{givenName} {sn}"}"#;

    // Instantiate + configure, many times.
    let mut inst_us = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let m =
            MapperInstance::new(&rt, &plugin, &limits, CallContext::default(), mapping).unwrap();
        inst_us.push(t.elapsed().as_secs_f64() * 1e6);
        drop(m);
    }

    // Map 100k records in batches of 500.
    let batches: Vec<Vec<WireObject>> = (0..200)
        .map(|b| (0..500).map(|i| record(b * 500 + i)).collect())
        .collect();
    let mut mapper =
        MapperInstance::new(&rt, &plugin, &limits, CallContext::default(), mapping).unwrap();
    let mut per_record = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        for b in &batches {
            let out = mapper.map_users(b).unwrap();
            assert_eq!(out.len(), b.len());
        }
        per_record.push(t.elapsed().as_secs_f64() * 1e6 / 100_000.0);
    }
    let (rec, inst) = (median(per_record), median(inst_us));
    println!("mapper call (host→wasm→host, 7 attributes, batches of 500): {rec:.2} µs/record (target ≤ 2 µs: {:.2}× of target)", rec / 2.0);
    println!("instantiate + configure from InstancePre:                    {inst:.1} µs (target ≤ 100 µs: {:.2}× of target)", inst / 100.0);
}
