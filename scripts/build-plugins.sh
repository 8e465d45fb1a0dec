#!/usr/bin/env bash
# Build every WebAssembly plugin for wasm32-wasip2 and collect the .wasm files:
#   target/plugins/        first-party plugins (plugins/*)
#   target/example-plugins examples (examples/*/Cargo.toml)
#   target/test-plugins/   test fixtures (tests/fixtures/*)
#   target/plugins-v0.1/   csv, ldap and default-mapper built once more for
#                          contract 0.1 (the frozen sdk/v0.1), so the host's
#                          0.1 support is tested against real plugins
# Each crate is built in its own cargo invocation so the SDK's `connector` /
# `mapper` features never unify across plugins.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true

build_dir() { # $1 = folder with crates, $2 = output folder
  mkdir -p "target/$2"
  for manifest in "$1"/*/Cargo.toml; do
    [ -f "$manifest" ] || continue
    local pkg
    pkg=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$manifest" | head -n 1)
    cargo build --quiet --release --target wasm32-wasip2 -p "$pkg"
    local file="${pkg//-/_}.wasm" name="${pkg#usersync-}"
    # write-temp-then-rename, so a running host never sees a half-written file
    cp "target/wasm32-wasip2/release/$file" "target/$2/.$name.wasm.tmp"
    mv "target/$2/.$name.wasm.tmp" "target/$2/$name.wasm"
  done
}

build_dir plugins plugins
build_dir examples example-plugins
build_dir tests/fixtures test-plugins

# Two builds of the hot-reload fixture that map a field differently (the
# variant is baked in at compile time; build.rs makes cargo rebuild when
# FLIP_VARIANT changes): target/test-plugins/flip-mapper-{a,b}.wasm
for variant in a b; do
  FLIP_VARIANT=$variant cargo build --quiet --release --target wasm32-wasip2 -p flip-mapper
  cp target/wasm32-wasip2/release/flip_mapper.wasm "target/test-plugins/.flip-mapper-$variant.wasm.tmp"
  mv "target/test-plugins/.flip-mapper-$variant.wasm.tmp" "target/test-plugins/flip-mapper-$variant.wasm"
done
# Contract 0.1 builds of three first-party plugins (about 30 s on 2 cores;
# their dependencies are already built).
mkdir -p target/plugins-v0.1
for name in csv ldap default-mapper; do
  cargo build --quiet --release --target wasm32-wasip2 -p "usersync-$name" \
    --no-default-features --features contract-0-1
  file="usersync_${name//-/_}.wasm"
  cp "target/wasm32-wasip2/release/$file" "target/plugins-v0.1/.$name.wasm.tmp"
  mv "target/plugins-v0.1/.$name.wasm.tmp" "target/plugins-v0.1/$name.wasm"
done
# Leave target/wasm32-wasip2/release/ holding the 0.2 builds, as before.
for name in csv ldap default-mapper; do
  cargo build --quiet --release --target wasm32-wasip2 -p "usersync-$name"
done

echo "plugins built: $(ls target/plugins target/example-plugins target/test-plugins | grep -c '\.wasm$') components"
