#!/usr/bin/env bash
# Quick start: build the plugins and the host, sync examples/quickstart/data/people.csv
# into a fresh SQLite file, and show what was created.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build-plugins.sh
cargo build --quiet --release -p usersync-host
qs=examples/quickstart
mkdir -p "$qs/plugins"
cp target/plugins/*.wasm "$qs/plugins/"
rm -f "$qs"/usersync.db*
usersync=target/release/usersync
echo "== dry run: what the first sync would do"
"$usersync" -c "$qs/usersync.toml" sync --job people --dry-run
echo
echo "== sync"
"$usersync" -c "$qs/usersync.toml" sync --job people
echo
echo "== users in $qs/usersync.db"
"$usersync" -c "$qs/usersync.toml" users list
echo
echo "Next: edit $qs/data/people.csv and run: $usersync -c $qs/usersync.toml sync --job people"
