#!/usr/bin/env bash
# Refresh deny/advisory-db.tar.gz from a clone of github.com/rustsec/advisory-db.
# Usage: scripts/update-advisory-db.sh PATH_TO_CLONE
set -euo pipefail
cd "$(dirname "$0")/.."
clone="${1:?usage: scripts/update-advisory-db.sh PATH_TO_A_CLONE_OF_rustsec/advisory-db}"
commit=$(git -C "$clone" rev-parse HEAD)
date=$(git -C "$clone" show -s --format=%cs HEAD)
git -C "$clone" archive --format=tar HEAD crates LICENSE.txt LICENSES/CC0-1.0.txt | gzip -9 -n > deny/advisory-db.tar.gz
sed -i -E "s/commit \`[0-9a-f]+\`/commit \`$commit\`/; s/\(([0-9]{4}-[0-9]{2}-[0-9]{2})\)\./($date)./" deny/README.md
echo "deny/advisory-db.tar.gz is now rustsec/advisory-db $commit ($date)"
