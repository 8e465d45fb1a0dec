//! Per-record mapper cost (host → wasm → host) and instantiate cost, in process through the
//! usersync-host library (the logic of `host/benches/plugin_calls.rs`), with two record
//! shapes: the micro-benchmark's 7-attribute record and the generated directory's LDAP user
//! (15 attributes, what the bench's job maps).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use ldap_harness::DirectorySpec;
use serde_json::json;
use usersync_host::config::Limits;
use usersync_host::runtime::{
    CallContext, MapperInstance, Runtime, WireAttribute, WireKind, WireObject, WireValue,
};

fn text(name: &str, v: impl Into<String>) -> WireAttribute {
    WireAttribute {
        name: name.into(),
        values: vec![WireValue::Text(v.into())],
    }
}

fn small_record(i: usize) -> WireObject {
    WireObject {
        kind: WireKind::User,
        id: format!("{i:08}"),
        ref_key: String::new(),
        enabled: true,
        attributes: vec![
            text("uid", format!("user{i}")),
            text("givenName", "Zoë"),
            text("sn", format!("Ångström{i}")),
            text("mail", format!("user{i}@example.com")),
            text("title", "Engineer"),
            text("department", "Research"),
            WireAttribute {
                name: "objectGUID".into(),
                values: vec![WireValue::Binary(vec![7; 16])],
            },
        ],
        member_of: vec!["Staff".into()],
        members: vec![],
    }
}

fn ldap_record(spec: &DirectorySpec, i: usize) -> WireObject {
    let u = spec.user(i);
    let mut attributes = vec![
        text("entryUUID", format!("00000000-0000-4000-8000-{i:012}")),
        text("uid", u.uid.clone()),
        text("cn", u.cn),
        text("sn", u.sn),
        text("givenName", u.given_name),
        text("displayName", u.display_name),
        WireAttribute {
            name: "mail".into(),
            values: u.mail.into_iter().map(WireValue::Text).collect(),
        },
        text("title", u.title),
        text("departmentNumber", u.department_number),
        text("ou", u.department),
        text("employeeNumber", u.employee_number),
        text("employeeType", u.employee_type),
        text("modifyTimestamp", "20250101000000Z"),
    ];
    if let Some(m) = u.manager_index {
        attributes.push(text("manager", spec.user_dn(m)));
    }
    if let Some(p) = u.phone {
        attributes.push(text("telephoneNumber", p));
    }
    WireObject {
        kind: WireKind::User,
        id: format!("00000000-0000-4000-8000-{i:012}"),
        ref_key: u.dn,
        enabled: !u.disabled,
        attributes,
        member_of: vec![],
        members: vec![],
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    v[v.len() / 2]
}

/// µs per mapped record for `batches`, median of 5 passes.
fn per_record(mapper: &mut MapperInstance, batches: &[Vec<WireObject>]) -> Result<f64> {
    let n: usize = batches.iter().map(Vec::len).sum();
    let mut runs = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        for b in batches {
            let out = mapper.map_users(b)?;
            assert_eq!(out.len(), b.len());
        }
        runs.push(t.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    Ok(median(runs))
}

pub fn measure(root: &Path, plugins: &Path, records: usize) -> Result<serde_json::Value> {
    let wasm = plugins.join("default-mapper.wasm");
    let rt = Runtime::new(&root.join("target/bench-cache"))?;
    let plugin = rt
        .load(&wasm)
        .with_context(|| format!("load {}", wasm.display()))?;
    let limits = Limits::default();
    let small_mapping =
        r#"{"username":{"from":"uid","case":"lower"},"display_name":"{givenName} {sn}"}"#;

    let mut inst_us = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let m = MapperInstance::new(&rt, &plugin, &limits, CallContext::default(), "{}")?;
        inst_us.push(t.elapsed().as_secs_f64() * 1e6);
        drop(m);
    }
    let instantiate_us = median(inst_us);

    let batch = 500;
    let small: Vec<Vec<WireObject>> = (0..records.div_ceil(batch))
        .map(|b| (0..batch).map(|i| small_record(b * batch + i)).collect())
        .collect();
    let mut m = MapperInstance::new(&rt, &plugin, &limits, CallContext::default(), small_mapping)?;
    let small_us = per_record(&mut m, &small)?;

    let spec = DirectorySpec::new(records, 1, 1);
    let ldap: Vec<Vec<WireObject>> = (0..records.div_ceil(batch))
        .map(|b| {
            (b * batch..((b + 1) * batch).min(records))
                .map(|i| ldap_record(&spec, i))
                .collect()
        })
        .collect();
    let mut m = MapperInstance::new(&rt, &plugin, &limits, CallContext::default(), "{}")?;
    let ldap_us = per_record(&mut m, &ldap)?;

    Ok(json!({
        "records": records,
        "batch": batch,
        "mapper_us_per_record_7_attributes": small_us,
        "mapper_us_per_record_ldap_user": ldap_us,
        "instantiate_us": instantiate_us,
    }))
}
