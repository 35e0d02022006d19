#!/usr/bin/env bash
# The tests, on a machine with only the Rust toolchain (and python3, node): installs
# nats-server and docker-registry (the OCI registry the tests pull from) when they are
# missing, builds the test components (scripts/fixtures.sh,
# cached), then runs `cargo test --workspace --locked` with any extra arguments.
#
#   ./scripts/test.sh                    everything
#   ./scripts/test.sh -p lattice-host    one package (cargo test arguments)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/nats-server.sh
. scripts/lib/docker-registry.sh
ensure_nats_server
ensure_docker_registry
./scripts/fixtures.sh ${LATTICE_FIXTURES_CHECK:+--check}
exec cargo test --workspace --locked "$@"
