#!/usr/bin/env bash
# Build, then let the host validate the file as it would before serving it
# (exports, imports, manifest). `usersync` from $USERSYNC or $PATH.
set -euo pipefail
cd "$(dirname "$0")"
bash build.sh
"${USERSYNC:-usersync}" plugins check {{name}}.wasm
