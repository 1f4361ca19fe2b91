#!/usr/bin/env bash
# Build the example strategies and the test fixtures to wasm32-wasip2 components.
# Output: $ARBYTRON_WASM_DIR (default $CARGO_TARGET_DIR/arbytron-wasm), one NAME.wasm each.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${CARGO_TARGET_DIR:=$HOME/.cache/arbytron/target}"
export CARGO_TARGET_DIR
out="${ARBYTRON_WASM_DIR:-$CARGO_TARGET_DIR/arbytron-wasm}"
mkdir -p "$out"
built="$CARGO_TARGET_DIR/wasm32-wasip2/wasm"

build() { # crate artifact-name output-name [features]
  cargo build --quiet -p "$1" --target wasm32-wasip2 --profile wasm ${4:+--features "$4"}
  cp "$built/$2.wasm" "$out/$3.wasm.tmp" && mv "$out/$3.wasm.tmp" "$out/$3.wasm"
}

build cross-venue-binary cross_venue_binary cross-venue-binary
build multi-outcome-bundle multi_outcome_bundle multi-outcome-bundle
# The examples are also what `arbytron run` loads on its defaults (strategies.dir).
mkdir -p strategies/dist
for s in cross-venue-binary multi-outcome-bundle; do
  cp "$out/$s.wasm" "strategies/dist/$s.wasm.tmp" && mv "strategies/dist/$s.wasm.tmp" "strategies/dist/$s.wasm"
done
if [ "${1:-}" != "--examples-only" ]; then
  build versioned-strategy versioned_strategy versioned-v1
  build versioned-strategy versioned_strategy versioned-v2 v2
  build wrong-world wrong_world wrong-world
  for f in loop-score memory-bomb panic-score stack-overflow failing-init looping-init huge-return read-file open-socket; do
    build hostile-strategy hostile_strategy "hostile-$f" "$f"
  done
fi
echo "wasm modules in $out"
