#!/usr/bin/env bash
# The C twin's native checks: build native_harness.c (with AddressSanitizer,
# UBSan and LeakSanitizer when the compiler has them) and compare its config
# errors with the Python twin's on random configs.
#   run.sh [COUNT]   configs per seed (default 20000), seeds 1-3
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
cc="${CC:-clang-19}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
src=("$here/native_harness.c" "$repo/sdk/c/gavel_policy.c")
if ! "$cc" -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined \
    -Wno-unknown-attributes -I "$repo/sdk/c" -o "$tmp/harness" "${src[@]}" -lm 2>/dev/null; then
    echo "run.sh: no sanitizers; building without them" >&2
    "$cc" -O1 -g -Wno-unknown-attributes -I "$repo/sdk/c" -o "$tmp/harness" "${src[@]}" -lm
fi
for seed in 1 2 3; do
    python3 "$here/config_diff.py" "$seed" "${1:-20000}" "$tmp/harness"
done
