#!/usr/bin/env bash
# Build this connector into a component: bash build.sh [OUT.wasm]
# componentize-js comes from $COMPONENTIZE_JS, else the copy that
# scripts/polyglot-tools.sh installs under target/, else $PATH.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$here/../.."
out="$(realpath -m "${1:-$here/jsonl-http.wasm}")"
tool="${COMPONENTIZE_JS:-$repo/target/polyglot-tools/js/node_modules/.bin/componentize-js}"
[ -x "$tool" ] || tool=componentize-js
cd "$here"
# --disable http fetch-event: the engine's own wasi:http (fetch) is not
# offered to plugins; the file comes through usersync's brokered `http` import.
"$tool" connector.js --wit "$repo/wit/v0.1" --world-name connector --disable http fetch-event -o "$out" >/dev/null
