#!/usr/bin/env bash
# The test command (README). On a fresh machine it installs what it needs,
# uses or starts PostgreSQL and Redis (see scripts/services.sh), builds the
# strategy modules and runs the whole suite. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/arbytron/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
scripts/setup.sh
# shellcheck source=scripts/services.sh
source scripts/services.sh
ensure_postgres
ensure_redis
scripts/build-wasm.sh
cargo test --workspace --no-fail-fast "$@"
