#!/usr/bin/env bash
# Build the Python and JavaScript plugins:
#   target/example-plugins/python-mapper.wasm           examples/python-mapper          (componentize-py)
#   target/example-plugins/js-mapper.wasm               examples/js-mapper              (componentize-js)
#   target/example-plugins/python-jsonl-connector.wasm  examples/python-jsonl-connector (componentize-py)
#   target/example-plugins/js-jsonl-connector.wasm      examples/js-jsonl-connector     (componentize-js)
#   target/polyglot-templates/<t>/template-<t>.wasm     sdk/templates/<t>, rendered as `usersync plugins new` would
# Installs the pinned tools first (scripts/polyglot-tools.sh). A plugin whose
# sources, the WIT contract and the tools are unchanged since its last build
# is not rebuilt (each build takes 10-30 s).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/polyglot-tools.sh
export COMPONENTIZE_PY="$PWD/target/polyglot-tools/py/bin/componentize-py"
export COMPONENTIZE_JS="$PWD/target/polyglot-tools/js/node_modules/.bin/componentize-js"

# build_if_changed SOURCE_DIR OUT.wasm BUILD_SCRIPT
build_if_changed() {
  local src=$1 out=$2 script=$3
  local stamp
  stamp="$(dirname "$out")/.$(basename "$out").stamp"
  local want
  want=$(find "$src" wit/v0.1 target/polyglot-tools/*.stamp -maxdepth 1 -type f \
    \( -name '*.py' -o -name '*.js' -o -name '*.sh' -o -name '*.wit' -o -name '*.stamp' \) \
    -print0 | sort -z | xargs -0 sha256sum | sha256sum)
  if [ -f "$out" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return
  fi
  local start=$SECONDS
  mkdir -p "$(dirname "$out")"
  # write-temp-then-rename, so a running host never sees a half-written file
  bash "$script" "$(dirname "$out")/.$(basename "$out").tmp" >/dev/null
  mv "$(dirname "$out")/.$(basename "$out").tmp" "$out"
  echo "$want" >"$stamp"
  echo "built $out ($(($(stat -c %s "$out") / 1024)) KiB) in $((SECONDS - start)) s"
}

# Two builds at a time (one per core of a small CI machine); any failure fails the script.
pending=()
in_background() {
  "$@" &
  pending+=($!)
  if [ ${#pending[@]} -ge 2 ]; then
    wait "${pending[0]}"
    pending=("${pending[@]:1}")
  fi
}

for example in python-mapper js-mapper python-jsonl-connector js-jsonl-connector; do
  in_background build_if_changed "examples/$example" "target/example-plugins/$example.wasm" "examples/$example/build.sh"
done

# The templates, rendered the way `usersync plugins new` does: {{name}}
# replaced, the contract copied into wit/.
for template in sdk/templates/*/; do
  t=$(basename "$template")
  name="template-$t"
  dir="target/polyglot-templates/$t"
  mkdir -p "$dir/wit" # not emptied: it keeps the last build and its stamp
  cp wit/v0.1/*.wit "$dir/wit/"
  for f in "$template"*; do
    sed "s/{{name}}/$name/g" "$f" >"$dir/$(basename "$f")"
  done
  in_background build_if_changed "$template" "$dir/$name.wasm" "$dir/build.sh"
done
for pid in "${pending[@]}"; do wait "$pid"; done
