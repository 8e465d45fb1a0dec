#!/usr/bin/env bash
# Install the toolchains that build the Python and JavaScript plugins, at the
# versions pinned in scripts/polyglot/, into target/polyglot-tools/:
#   py/  a Python venv with componentize-py         (requirements.txt)
#   js/  node_modules with componentize-js and jco   (package.json + package-lock.json)
# Needs python3 (with venv) and node/npm >= 18. A second run with unchanged
# pins does nothing, so CI and developers pay for the download once.
set -euo pipefail
cd "$(dirname "$0")/.."
pins=scripts/polyglot
tools=target/polyglot-tools
mkdir -p "$tools"

need() { # $1 = command, $2 = what to install
  command -v "$1" >/dev/null || { echo "error: $1 not found; install $2 (the Python and JavaScript plugin examples need it)" >&2; exit 1; }
}

stamp_ok() { # $1 = stamp file, $2.. = pin files: true if installed from these pins
  [ -f "$1" ] && [ "$(cat "$1")" = "$(cat "${@:2}" | sha256sum)" ]
}

if ! stamp_ok "$tools/py.stamp" "$pins/requirements.txt"; then
  need python3 "Python 3.10+ with the venv module"
  rm -rf "$tools/py"
  python3 -m venv "$tools/py"
  "$tools/py/bin/pip" install --quiet --disable-pip-version-check -r "$pins/requirements.txt"
  cat "$pins/requirements.txt" | sha256sum >"$tools/py.stamp"
fi

if ! stamp_ok "$tools/js.stamp" "$pins/package.json" "$pins/package-lock.json"; then
  need npm "Node.js 18+ with npm"
  rm -rf "$tools/js"
  mkdir -p "$tools/js"
  cp "$pins/package.json" "$pins/package-lock.json" "$tools/js/"
  (cd "$tools/js" && npm ci --silent --no-audit --no-fund)
  cat "$pins/package.json" "$pins/package-lock.json" | sha256sum >"$tools/js.stamp"
fi

echo "polyglot tools: $("$tools/py/bin/componentize-py" --version), componentize-js $("$tools/js/node_modules/.bin/componentize-js" --version)"
