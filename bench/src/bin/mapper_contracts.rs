//! Row 5 (the mapper micro-benchmark) for the default mapper built for each
//! contract, in one process and one run: `target/plugins-v0.1/` (typed
//! records, one guest allocation per string) against `target/plugins/`
//! (0.2's packed pages). `cargo run --release -p usersync-bench --bin
//! mapper-contracts [records] [LABEL=FOLDER ...]` after
//! `bash scripts/build-plugins.sh`; folders given replace the two defaults
//! (for example a build before a change against one after it).

#[path = "../micro.rs"]
mod micro;

use std::path::Path;

fn main() -> anyhow::Result<()> {
    let records: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(100_000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    println!(
        "| contract | µs / 7-attribute record | µs / LDAP user (15 attributes) | instantiate µs |"
    );
    println!("|---|---|---|---|");
    let mut folders: Vec<(String, String)> = std::env::args()
        .skip(2)
        .map(|a| match a.split_once('=') {
            Some((label, folder)) => (label.to_string(), folder.to_string()),
            None => (a.clone(), a),
        })
        .collect();
    if folders.is_empty() {
        folders = [("0.1", "target/plugins-v0.1"), ("0.2", "target/plugins")]
            .map(|(l, f)| (l.to_string(), f.to_string()))
            .into();
    }
    for (contract, folder) in folders {
        let m = micro::measure(&root, &root.join(folder), records)?;
        let f = |k: &str| m[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "| {contract} | {:.2} | {:.2} | {:.0} |",
            f("mapper_us_per_record_7_attributes"),
            f("mapper_us_per_record_ldap_user"),
            f("instantiate_us")
        );
    }
    Ok(())
}
