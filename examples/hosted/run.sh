#!/usr/bin/env bash
# The hosted example end to end, on this machine and loopback only:
#   1. a throwaway PostgreSQL cluster on 127.0.0.1:55432 (Debian's package; installed if missing)
#   2. two `usersync serve` nodes on it (node-a.toml, node-b.toml)
#   3. tenant globex from the config file, tenant acme made through the API with its own job
#   4. node-a killed with SIGKILL: node-b takes its jobs over once their leases lapse
# Everything it starts it stops, and the cluster's folder is removed at the end.
# Needs the release binary: bash scripts/quickstart.sh, or
#   bash scripts/build-plugins.sh && cargo build --release -p usersync-host --bin usersync
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin="$root/target/release/usersync"
[ -x "$bin" ] || {
  echo "run.sh: $bin is missing; build it first (see the comment at the top of run.sh)" >&2
  exit 1
}
say() { printf '\n== %s\n' "$*"; }

# 1. PostgreSQL: initdb in a temp folder, trust on loopback only (a throwaway cluster).
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$pgbin" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
work=$(mktemp -d /tmp/usersync-hosted-XXXXXX)
as_pg=()
if [ "$(id -u)" = 0 ]; then # PostgreSQL refuses to run as root
  chown postgres: "$work"
  as_pg=(runuser -u postgres --)
fi
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/pg" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
say "starting PostgreSQL on 127.0.0.1:55432"
"${as_pg[@]}" "$pgbin/initdb" -D "$work/pg" -U usersync --auth=trust >/dev/null
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w \
  -o "-p 55432 -k $work -c listen_addresses=127.0.0.1" start >/dev/null
"${as_pg[@]}" "$pgbin/createdb" -h 127.0.0.1 -p 55432 -U usersync usersync

# 2. Two nodes. Both need the same operator token and the same key for sealed secrets.
USERSYNC_API_TOKEN=$(head -c 24 /dev/urandom | base64 | tr -d '+/=')
USERSYNC_SECRET_KEY=$(head -c 32 /dev/urandom | base64)
export USERSYNC_API_TOKEN USERSYNC_SECRET_KEY
mkdir -p "$here/plugins"
start_node() { # $1 = a or b
  "$bin" -c "$here/node-$1.toml" serve >"$work/node-$1.log" 2>&1 &
  pids+=($!)
}
start_node a
node_a=$!
start_node b
api() { # METHOD PORT PATH [JSON]
  curl -fsS -X "$1" -H "Authorization: Bearer $USERSYNC_API_TOKEN" \
    -H 'content-type: application/json' ${4:+-d "$4"} "http://127.0.0.1:$2$3"
}
for port in 18081 18082; do
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 0.2
  done
done
say "node-a's health"
curl -fsS http://127.0.0.1:18081/health
echo

# 3. Tenant acme through node-a's API, its job through node-b's: both nodes serve both.
say "POST /tenants (acme); its token is shown once"
api POST 18081 /tenants '{"id": "acme", "licenses": {"standard": 50}}'
echo
# node-b knows the new tenant at once: a request naming a tenant it does not
# know yet makes it read the store first (it also polls every 2 s)
say "PUT /tenants/acme/jobs/people on node-b (reads tenants/acme/data/people.csv)"
api PUT 18082 /tenants/acme/jobs/people '{
  "connector": "csv", "mappers": ["default-mapper"], "interval_seconds": 5,
  "grants": {"input_dir": "data"},
  "source": {"path": "/input/people.csv", "id_column": "employee_id",
             "enabled_column": "active", "groups_column": "groups"}
}'
echo
sleep 12
say "runs so far (node, tenant, job, outcome)"
"$bin" -c "$here/node-a.toml" runs --limit 8

# 4. Failover.
say "kill -9 node-a; node-b takes over its jobs once their leases lapse (lease_seconds = 6)"
kill -9 "$node_a"
sleep 16
"$bin" -c "$here/node-b.toml" runs --limit 8
say "acme's users, synced by whichever node held the job"
"$bin" -c "$here/node-b.toml" users list --tenant acme
say "node-b's metrics: lease takeovers"
api GET 18082 /metrics | grep -E '^usersync_(lease_takeovers_total|node_info)' || true
say "done; stopping node-b and PostgreSQL"
