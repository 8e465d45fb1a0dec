#!/usr/bin/env bash
# Build {{name}}.wasm (a wasm32-wasip2 component), run the tests, and check
# the file as usersync would before serving it.
set -euo pipefail
cd "$(dirname "$0")"
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
cargo test --quiet
cargo build --quiet --release --target wasm32-wasip2
target_dir=${CARGO_TARGET_DIR:-target}
# temp name, then rename: a host watching a folder never reads half a file
cp "$target_dir/wasm32-wasip2/release/{{crate_file}}.wasm" ".{{name}}.wasm.tmp"
mv ".{{name}}.wasm.tmp" "{{name}}.wasm"
if command -v usersync >/dev/null; then
  usersync plugins check "{{name}}.wasm"
else
  echo "built {{name}}.wasm; check it with: usersync plugins check {{name}}.wasm"
fi
