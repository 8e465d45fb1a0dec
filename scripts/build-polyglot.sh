#!/usr/bin/env bash
# Build the Python and JavaScript plugin examples into target/example-plugins/:
#   python-mapper.wasm           examples/python-mapper          (componentize-py)
#   js-mapper.wasm               examples/js-mapper              (componentize-js)
#   python-jsonl-connector.wasm  examples/python-jsonl-connector (componentize-py)
# Installs the pinned tools first (scripts/polyglot-tools.sh). An example whose
# sources, the WIT contract and the tools are unchanged since its last build is
# not rebuilt (each build takes 10-30 s).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/polyglot-tools.sh
out=target/example-plugins
mkdir -p "$out"
for example in python-mapper js-mapper python-jsonl-connector; do
  dir="examples/$example"
  stamp="$out/.$example.stamp"
  want=$(find "$dir" wit/v0.1 target/polyglot-tools/*.stamp -maxdepth 1 -type f \
    \( -name '*.py' -o -name '*.js' -o -name '*.sh' -o -name '*.wit' -o -name '*.stamp' \) \
    -print0 | sort -z | xargs -0 sha256sum | sha256sum)
  if [ -f "$out/$example.wasm" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    continue
  fi
  start=$SECONDS
  # write-temp-then-rename, so a running host never sees a half-written file
  bash "$dir/build.sh" "$out/.$example.wasm.tmp"
  mv "$out/.$example.wasm.tmp" "$out/$example.wasm"
  echo "$want" >"$stamp"
  echo "built $out/$example.wasm ($(( $(stat -c %s "$out/$example.wasm") / 1024 )) KiB) in $((SECONDS - start)) s"
done
