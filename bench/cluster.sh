#!/usr/bin/env bash
# Cluster throughput, one command: builds the release host, then runs 300 small CSV jobs across
# 10 tenants on one `usersync serve` node and on 3 nodes sharing a throwaway PostgreSQL (runs per
# minute side by side), then a lone tenant's start delay while another tenant floods the queue.
#   bash bench/cluster.sh                # the full benchmark (a few minutes)
#   bash bench/cluster.sh --smoke        # 12 small jobs, under a minute
#   bash bench/cluster.sh --help         # every option
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${USERSYNC_BENCH_SKIP_BUILD:-}" != 1 ]; then
  cargo build --quiet --release -p usersync-host --bin usersync
fi
cargo build --quiet --release -p usersync-bench --bin cluster-bench
exec target/release/cluster-bench "$@"
