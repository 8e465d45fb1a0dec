#!/usr/bin/env bash
# Build this mapper into a component: bash build.sh [OUT.wasm]
# componentize-py comes from $COMPONENTIZE_PY, else the copy that
# scripts/polyglot-tools.sh installs under target/, else $PATH.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$here/../.."
out="$(realpath -m "${1:-$here/hr-mapper.wasm}")"
tool="${COMPONENTIZE_PY:-$repo/target/polyglot-tools/py/bin/componentize-py}"
[ -x "$tool" ] || tool=componentize-py
cd "$here"
"$tool" -d "$repo/wit/v0.1" -w mapper componentize app -o "$out" >/dev/null
