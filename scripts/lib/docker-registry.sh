# Sourced by scripts/test.sh: puts Debian's `docker-registry` (the CNCF distribution
# registry the OCI tests pull from) and `htpasswd` (for the registry that needs
# credentials) on PATH, installing them with apt-get when they are missing.
ensure_docker_registry() {
  if ! command -v docker-registry >/dev/null 2>&1 || ! command -v htpasswd >/dev/null 2>&1; then
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    if command -v apt-get >/dev/null 2>&1; then
      echo "docker-registry or htpasswd not found: installing docker-registry and apache2-utils with apt-get…"
      $sudo apt-get install -y -q docker-registry apache2-utils >/dev/null \
        || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q docker-registry apache2-utils >/dev/null; }
    fi
  fi
  command -v docker-registry >/dev/null 2>&1 && command -v htpasswd >/dev/null 2>&1 || {
    echo "cannot install docker-registry and htpasswd (Debian: apt-get install docker-registry apache2-utils)" >&2
    return 1
  }
  echo "using $(command -v docker-registry): $(docker-registry --version)"
}
