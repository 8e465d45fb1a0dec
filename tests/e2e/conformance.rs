//! `usersync plugins test`: the vendor conformance kit, run as vendors run
//! it (the real binary) against the first-party CSV connector (files and
//! HTTPS), a connector that breaks every rule, mappers and the Python
//! JSON-lines connector.

use std::path::{Path, PathBuf};

use crate::env::{built, usersync, usersync_output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/conformance")
        .join(name)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Run the kit on `plugin` (with `fixture`, if any): success, and what it said.
fn kit(plugin: &Path, fixture: Option<&Path>) -> (bool, String) {
    let mut args = vec!["plugins", "test", s(plugin)];
    if let Some(f) = fixture {
        args.extend(["--fixture", s(f)]);
    }
    usersync(&args)
}

fn assert_lines(said: &str, lines: &[&str]) {
    for line in lines {
        assert!(
            said.lines().any(|l| l.starts_with(line)),
            "no line starting with {line:?} in:\n{said}"
        );
    }
}

#[test]
fn plugins_test_passes_the_csv_connector_on_files_and_over_https() {
    let csv = built("plugins", "csv");
    let (ok, said) = kit(&csv, Some(&fixture("csv")));
    assert!(ok, "{said}");
    assert_lines(
        &said,
        &[
            "✓ full read returns users: 4 users",
            "✓ ids are non-empty and unique",
            "✓ ids are stable across full reads",
            "✓ a checkpoint is given",
            "- incremental read returns only the changes: csv declares no \"incremental\"",
            "✓ a full read of changed data drops deletions",
            "✓ every reject carries a reason: 3 rejects, each with a reason",
            "✓ memory stays bounded over five full reads",
            "✓ a missing file fails cleanly",
            "✓ full read over HTTPS: 4 users over HTTPS",
            "✓ wrong credentials (HTTP 401) fail cleanly",
            "✓ an unreachable server fails cleanly",
            "PASS",
        ],
    );
    assert!(!said.contains("made-up-fixture-password"), "{said}");

    // The same verdicts as one JSON document for CI.
    let out = usersync_output(&[
        "plugins",
        "test",
        s(&csv),
        "--fixture",
        s(&fixture("csv")),
        "--json",
    ]);
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["passed"], true, "{doc:#}");
    assert_eq!(doc["plugin"]["name"], "csv");
    let checks = doc["checks"].as_array().unwrap();
    assert!(checks.iter().all(|c| c["status"] != "fail"), "{doc:#}");
    assert!(checks
        .iter()
        .any(|c| c["check"] == "full read over HTTPS" && c["status"] == "pass"));
}

#[test]
fn plugins_test_fails_a_connector_that_breaks_the_rules_with_each_rule_named() {
    let sloppy = built("test-plugins", "sloppy-connector");
    let out = usersync_output(&[
        "plugins",
        "test",
        s(&sloppy),
        "--fixture",
        s(&fixture("csv")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stdout);
    assert_lines(
        &said,
        &[
            "✗ ids are stable across full reads: two full reads of identical data gave different ids",
            "✗ a checkpoint is given: the full read gave no checkpoint",
            "✗ incremental read returns only the changes: returned 4 users",
            "✗ incremental read removes deleted records: deleted users not removed: \"1003\"",
            "✗ incremental read gives a new checkpoint",
            "✗ every reject carries a reason: 4 of 4 rejects have no reason",
            "✗ memory stays bounded over five full reads: linear memory grew by",
            "✗ a missing file fails cleanly: the connector crashed instead of returning an error",
            "✗ full read over HTTPS",
            "FAIL",
        ],
    );
    // Each failure says what to do instead.
    let failures = said.lines().filter(|l| l.starts_with('✗')).count();
    let fixes = said
        .lines()
        .filter(|l| l.trim_start().starts_with("fix: "))
        .count();
    assert_eq!(failures, fixes, "{said}");
    assert!(!said.contains("made-up-fixture-password"), "{said}");
}

#[test]
fn plugins_test_without_a_fixture_says_how_to_give_one() {
    let (ok, said) = kit(&built("plugins", "csv"), None);
    assert!(!ok);
    assert!(
        said.contains("no fixture was given")
            && said.contains("--fixture DIR")
            && said.contains("fixture.toml")
            && said.contains("examples/conformance/csv"),
        "{said}"
    );

    // A connector without a directory scenario is skipped with a way to test it.
    let (ok, said) = kit(&built("plugins", "ldap"), None);
    assert!(ok, "{said}");
    assert_lines(
        &said,
        &["- directory scenario: the kit has no directory scenario yet; test against slapd"],
    );
}

#[test]
fn plugins_test_checks_mappers_for_determinism_odd_input_and_reasons() {
    let (ok, said) = kit(&built("plugins", "default-mapper"), None);
    assert!(ok, "{said}");
    assert_lines(
        &said,
        &[
            "✓ accepts its configuration: configured with an empty [mapping]",
            "✓ survives an empty batch",
            "✓ survives odd records (empty, huge, unicode, binary)",
            "✓ same input gives the same output",
            "✓ every reject carries a reason",
            "PASS",
        ],
    );

    // A mapper that panics on records is named, with the fix.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("fixture.toml"),
        "[mapping]\nmode = \"trap\"\n",
    )
    .unwrap();
    let (ok, said) = kit(&built("test-plugins", "hostile-mapper"), Some(dir.path()));
    assert!(!ok, "{said}");
    assert_lines(
        &said,
        &[
            "✓ accepts its configuration: configured with the fixture's [mapping]",
            "✗ survives odd records (empty, huge, unicode, binary): mapper `hostile-mapper",
            "    fix: never panic on odd input",
        ],
    );
}

#[test]
fn plugins_test_passes_the_python_jsonl_connector() {
    let jsonl = built("example-plugins", "python-jsonl-connector");
    let (ok, said) = kit(&jsonl, Some(&fixture("jsonl")));
    assert!(ok, "{said}");
    assert_lines(
        &said,
        &[
            "✓ ids are stable across full reads",
            "✓ incremental read returns only the changes: 2 changed users",
            "✓ incremental read removes deleted records",
            "✓ incremental read gives a new checkpoint",
            "✓ every reject carries a reason",
            "✓ memory stays bounded over five full reads",
            "✓ a missing file fails cleanly",
        ],
    );
}
