#!/usr/bin/env bash
# Build {{name}}.wasm from connector.js and the contract in wit/.
# componentize-js: $COMPONENTIZE_JS, else one on $PATH, else a pinned copy
# installed into .tools/ on first use (needs node and npm).
set -euo pipefail
out="$(realpath -m "${1:-{{name}}.wasm}")"
cd "$(dirname "$0")"
tool="${COMPONENTIZE_JS:-$(command -v componentize-js || true)}"
if [ -z "$tool" ]; then
  [ -x .tools/js/node_modules/.bin/componentize-js ] || {
    mkdir -p .tools/js
    # preview2-shim: componentize-js imports it at run time but lists it only as a dev dependency.
    (cd .tools/js && npm init -y >/dev/null && npm install --silent --no-audit --no-fund \
      @bytecodealliance/componentize-js@0.23.0 @bytecodealliance/jco@1.35.0 @bytecodealliance/preview2-shim@0.25.0)
  }
  tool=.tools/js/node_modules/.bin/componentize-js
fi
# --disable http fetch-event: the engine's own wasi:http is not offered to
# plugins; requests go through usersync's `http` import instead.
"$tool" connector.js --wit wit --world-name connector --disable http fetch-event -o "$out" >/dev/null
echo "built $out"
