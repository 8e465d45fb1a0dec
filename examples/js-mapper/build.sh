#!/usr/bin/env bash
# Build this mapper into a component: bash build.sh [OUT.wasm]
# componentize-js comes from $COMPONENTIZE_JS, else the copy that
# scripts/polyglot-tools.sh installs under target/, else $PATH.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$here/../.."
out="$(realpath -m "${1:-$here/hr-mapper.wasm}")"
tool="${COMPONENTIZE_JS:-$repo/target/polyglot-tools/js/node_modules/.bin/componentize-js}"
[ -x "$tool" ] || tool=componentize-js
cd "$here"
# A mapper imports only `log`: leave out the engine's wasi:http support,
# which the host does not offer to plugins.
"$tool" mapper.js --wit "$repo/wit/v0.1" --world-name mapper --disable http fetch-event -o "$out" >/dev/null
