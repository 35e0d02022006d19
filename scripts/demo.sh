#!/usr/bin/env bash
# The main job: a lattice host on the embedded default (it starts its own nats-server
# when none answers on 127.0.0.1:4222) with the example provider running and healthy.
# Ctrl-C stops the host gracefully: the provider gets its shutdown request, then the
# host leaves the lattice and stops its nats-server. `--once` stops right away.
set -euo pipefail
cd "$(dirname "$0")/.."

once=false
[ "${1:-}" = "--once" ] && once=true

echo "building lattice and the example provider…"
cargo build --quiet -p lattice-cli --bins
cargo build --quiet -p lattice-provider-sdk --examples
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

"$lattice" start provider "$PWD/target/debug/examples/counter" counter --host "$host_id"
"$lattice" get inventory "$host_id"
echo "--- what the provider printed (lattice logs counter):"
"$lattice" logs counter --host "$host_id"

if $once; then
  "$lattice" stop host "$host_id"
  wait "$host_pid" && echo "host stopped cleanly (its log: $log)"
else
  echo "host and provider running; try \`$lattice events\` in another terminal. Ctrl-C stops."
  wait "$host_pid"
fi
