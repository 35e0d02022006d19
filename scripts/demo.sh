#!/usr/bin/env bash
# The main job: a web application on one lattice host, on the embedded default (the host
# starts its own nats-server when none answers on 127.0.0.1:4222). The hello-world HTTP
# component (built with componentize-js by scripts/fixtures.sh) runs behind the builtin
# http-server; the script prints the URL that curl answers. Ctrl-C stops the host
# gracefully (the http-server, the component, then its nats-server). `--once` checks
# the answer and stops.
#
#   ./scripts/demo.sh [--once]       LATTICE_DEMO_ADDRESS=127.0.0.1:8000 by default
set -euo pipefail
cd "$(dirname "$0")/.."

once=false
[ "${1:-}" = "--once" ] && once=true
address=${LATTICE_DEMO_ADDRESS:-127.0.0.1:8000}

. scripts/lib/nats-server.sh
ensure_nats_server
echo "building the hello-world component (first time: a few minutes, then cached)…"
./scripts/fixtures.sh hello-js
echo "building lattice…"
cargo build --quiet -p lattice-cli --bins
lattice=target/debug/lattice
data=${LATTICE_DATA_DIR:-$(mktemp -d -t lattice-demo.XXXXXX)}
log="$data/host.log"

"$lattice" up --allow-file-load --data-dir "$data" --friendly-name demo-host 2>"$log" &
host_pid=$!

host_id=""
# Ctrl-C reaches the host too (same terminal); SIGTERM to this script is passed on.
on_signal() {
  trap - INT TERM
  kill -TERM "$host_pid" 2>/dev/null || true
  wait "$host_pid" && echo "host stopped cleanly (its log: $log)"
  exit 0
}
trap on_signal INT TERM

for _ in $(seq 100); do
  host_id=$(grep -o 'lattice host N[A-Z0-9]\{55\}' "$log" 2>/dev/null | cut -d' ' -f3 || true)
  [ -n "$host_id" ] && break
  kill -0 "$host_pid" 2>/dev/null || { cat "$log"; echo "the host exited" >&2; exit 1; }
  sleep 0.1
done
[ -n "$host_id" ] || { cat "$log"; echo "the host did not come up" >&2; exit 1; }
grep 'is up on lattice' "$log"

"$lattice" start component "$PWD/target/fixtures/hello-js.wasm" hello --host "$host_id"
"$lattice" start provider wasmcloud+builtin://http-server http-server --host "$host_id"
"$lattice" config put hello-http "address=$address"
"$lattice" link put http-server hello wasi http --interface incoming-handler --source-config hello-http
"$lattice" get inventory "$host_id"

url="http://$address/"
answer=""
for _ in $(seq 100); do
  answer=$(curl -fsS "$url" 2>/dev/null || true)
  [ -n "$answer" ] && break
  sleep 0.1
done
[ "$answer" = "Hello from JavaScript" ] || {
  tail -n 20 "$log"
  echo "$url did not answer as expected (got '$answer')" >&2
  kill -TERM "$host_pid"
  exit 1
}
echo "curl $url  ->  $answer"

if $once; then
  "$lattice" stop host "$host_id"
  wait "$host_pid" && echo "host stopped cleanly (its log: $log)"
else
  echo "serving $url (try: curl $url); \`$lattice events\` follows the lattice. Ctrl-C stops."
  wait "$host_pid"
fi
