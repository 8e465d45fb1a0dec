#!/usr/bin/env bash
# Build {{name}}.wasm from app.py and the contract in wit/.
# componentize-py: $COMPONENTIZE_PY, else one on $PATH, else a pinned copy
# installed into .tools/ on first use (needs python3 with venv, and pip).
set -euo pipefail
out="$(realpath -m "${1:-{{name}}.wasm}")"
cd "$(dirname "$0")"
tool="${COMPONENTIZE_PY:-$(command -v componentize-py || true)}"
if [ -z "$tool" ]; then
  [ -x .tools/py/bin/componentize-py ] || {
    python3 -m venv .tools/py
    .tools/py/bin/pip install --quiet componentize-py==0.25.1
  }
  tool=.tools/py/bin/componentize-py
fi
"$tool" -d wit -w mapper componentize app -o "$out" >/dev/null
echo "built $out"
