#!/usr/bin/env bash
# Compile contracts/src/*.sol with the pinned solcjs (npm package `solc`, see package.json)
# and write one ABI (<Contract>.abi.json) and one creation bytecode (<Contract>.bin) per
# deployable contract.
#
#   scripts/build-contracts.sh            # rebuild the committed artifacts in contracts/out/
#   scripts/build-contracts.sh DIR        # write them to DIR instead (used by the drift test)
#
# Bytecode embeds a hash of the compiler metadata (source paths and contents), so this
# script always compiles from the repository root with the same relative paths: a fresh
# compile of unchanged sources reproduces the committed bytes exactly.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/contracts/out}"
solcjs="$root/node_modules/.bin/solcjs"
if [[ ! -x "$solcjs" ]]; then
    echo "solcjs is not installed: run \`npm ci\` in $root" >&2
    exit 2
fi

contracts=(TestCollateral ConditionalTokens FixedProductMarketMaker)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$root"
"$solcjs" --bin --abi --optimize --optimize-runs 200 --base-path . -o "$work" contracts/src/*.sol >/dev/null

mkdir -p "$out"
for c in "${contracts[@]}"; do
    stem="contracts_src_${c}_sol_${c}"
    [[ -s "$work/$stem.bin" ]] || { echo "solcjs produced no bytecode for $c" >&2; exit 1; }
    cp "$work/$stem.bin" "$out/$c.bin"
    # Pretty-printed so that interface changes read well in a diff.
    node -e 'const fs=require("fs");const a=JSON.parse(fs.readFileSync(process.argv[1],"utf8"));fs.writeFileSync(process.argv[2],JSON.stringify(a,null,2)+"\n")' \
        "$work/$stem.abi" "$out/$c.abi.json"
done
"$solcjs" --version | grep -v '^npm' >"$out/solc-version.txt"
echo "wrote ${contracts[*]} to $out"
