#!/usr/bin/env bash
# README command 1: the main job on its embedded defaults. Installs what it
# needs (wasm target, anvil), builds the example strategies, and runs the
# service against the bundled venue simulators (Kalshi, Polymarket, an AMM on
# a local EVM node) with SQLite and the in-process bus. Ctrl-C to stop.
# Extra arguments go to `arbytron run` (e.g. --config FILE).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/arbytron/target}"
scripts/setup.sh
scripts/build-wasm.sh --examples-only
cargo build -p arbytron --quiet
exec "$CARGO_TARGET_DIR/debug/arbytron" run --human "$@"
