#!/usr/bin/env bash
# usersync's benchmark, one command: builds the plugins and the release host, then runs the
# bench binary (a throwaway slapd with a generated directory; usersync vs ldapsearch and
# ldap2pg; ratios measured in one run). Options go to the bench (`--help` lists them), e.g.
#   bash bench/run.sh                    # 100k users / 5k groups, ldap2pg at 10k, scaling 10k/100k
#   bash bench/run.sh --smoke            # 1k users, under a minute
#   bash bench/run.sh --with-1m          # add the 1M-user scaling point
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${USERSYNC_BENCH_SKIP_BUILD:-}" != 1 ]; then
  bash scripts/build-plugins.sh >/dev/null
  cargo build --quiet --release -p usersync-host --bin usersync
fi
cargo build --quiet --release -p usersync-bench
exec target/release/usersync-bench "$@"
