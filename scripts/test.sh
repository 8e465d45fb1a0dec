#!/usr/bin/env bash
# The whole test suite: build the WebAssembly plugins, then run every test
# (engine unit tests, plugin unit tests, end-to-end tests with the real
# host and real plugins), then the lint gates.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build-plugins.sh
# The console's browser tests drive Debian's chromium through chromedriver.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  apt-get install -y --no-install-recommends chromium chromium-driver \
    || { apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver; }
fi
export USERSYNC_REQUIRE_BROWSER=1
# Python and JavaScript plugin examples (installs the pinned toolchains under target/).
bash scripts/build-polyglot.sh
cargo fmt --all -- --check
cargo clippy --release -p usersync-host -p usersync-sdk -p usersync-packed -p cloud-servers -p usersync-bench --all-targets -- -D warnings
for pkg in usersync-csv usersync-graph usersync-okta usersync-ldap usersync-default-mapper contractor-mapper hostile-mapper hostile-connector scripted-connector sloppy-connector wrong-world flip-mapper; do
  cargo clippy --quiet --release --target wasm32-wasip2 -p "$pkg" -- -D warnings
done
# The host alone, so the PostgreSQL pass below reuses its build: with the SDK
# in the same invocation, shared dependencies get other features and the host
# (and wasmtime) would be compiled twice.
cargo test --release -p usersync-host
# The SDK's tests are behind its features (one world each in a plugin; both here).
cargo test --release -p usersync-sdk --features connector,mapper
cargo test --release -p usersync-packed
# The vendored ldap3's patch (third_party/ldap3/PATCHED.md): its framing tests.
cargo test --release -p ldap3 --lib raw_entry
cargo test --release -p usersync-csv -p usersync-graph -p usersync-okta -p usersync-ldap -p usersync-default-mapper -p cloud-servers
# The end-to-end tests that exercise the store, again on PostgreSQL (a
# throwaway cluster on loopback, a database per test; see docs/ARCHITECTURE.md
# "The store"). The rest test plugins, connectors and config, not the store.
USERSYNC_TEST_STORE=postgres cargo test --release -p usersync-host --test e2e -- \
  lifecycle scope attributes groups_roles licensing incremental safety runs:: names:: tenants \
  run_ids run_outcomes crash csv_sync cli:: cli_lease daemon:: postgres_store leases db_outage tenant_admin \
  cluster agent
# Real directory servers: a throwaway slapd and a Samba AD DC on loopback.
cargo test --release -p ldap-harness -- --test-threads=1
# Benchmark harness smoke run (1k users, < 1 minute): it still runs, and the
# store equals the directory after full and incremental syncs. The full
# benchmark is `bash bench/run.sh` (see bench/README.md); never in CI.
cargo build --quiet --release -p usersync-host --bin usersync
USERSYNC_BENCH_SKIP_BUILD=1 bash bench/run.sh --smoke --json target/bench-smoke.json
# Cluster benchmark smoke run (12 small jobs on 1 node, then 3 nodes on one
# PostgreSQL, then a flood; every job must run once and succeed).
USERSYNC_BENCH_SKIP_BUILD=1 bash bench/cluster.sh --smoke --json target/cluster-smoke.json
