#!/usr/bin/env bash
# Lines of hand-written, non-test TypeScript in src/, at a base commit and now, both counted after
# formatting with the repo's current Prettier config, so a reformat alone does not count as growth.
# Usage: scripts/src-size.sh [BASE]   (default e25986a, the tree before issue 15)
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-e25986a}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

hand_written() { grep '\.ts$' | grep -v '/generated/' | grep -v '\.test\.ts$'; }
lines_of() { (cd "$1" && hand_written | xargs cat | wc -l); }

git archive "$base" src | tar -x -C "$tmp"
git ls-files src | hand_written > "$tmp/now.list"
(cd "$tmp" && find src -name '*.ts' | hand_written > base.list)
raw_base=$(lines_of "$tmp" < "$tmp/base.list")
cp .prettierrc.json "$tmp/"
# The base tree is formatted where it lies; node_modules/.bin/prettier is this repo's pinned one.
(cd "$tmp" && xargs "$OLDPWD/node_modules/.bin/prettier" --log-level warn --write < base.list)
fmt_base=$(lines_of "$tmp" < "$tmp/base.list")
now=$(lines_of . < "$tmp/now.list")
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.1f%%", (b - a) * 100 / a }'; }
echo "base $base: $raw_base lines as written, $fmt_base formatted"
echo "now: $now lines ($(pct "$fmt_base" "$now") against the formatted base, $(pct "$raw_base" "$now") against the base as written)"
