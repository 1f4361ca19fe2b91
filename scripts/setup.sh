#!/usr/bin/env bash
# Install what building and testing Arbytron needs, idempotently: the wasm
# target and the npm packages (anvil, solc). Everything else comes from cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null; then
  echo "Rust is not installed: https://rustup.rs (then re-run this script)"; exit 1
fi
if command -v rustup >/dev/null; then
  rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
fi
if [ -f package-lock.json ]; then
  if ! command -v npm >/dev/null; then
    echo "npm is needed for the EVM node (anvil) and the Solidity compiler: sudo apt-get install -y nodejs npm"; exit 1
  fi
  if [ ! -x node_modules/.bin/anvil ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
  fi
fi
