#!/usr/bin/env bash
# The Rust default-mapper and the Python and JavaScript hr-mapper side by
# side: .wasm size, first load (compile) and cached load, instantiate +
# configure, µs per mapped record. Builds what it needs first.
#   bash bench/polyglot.sh [--records N] [--json PATH]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build-plugins.sh >/dev/null
bash scripts/build-polyglot.sh
cargo run --quiet --release -p usersync-bench --bin polyglot-bench -- "$@"
