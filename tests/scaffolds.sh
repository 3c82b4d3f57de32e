#!/usr/bin/env bash
# `gavel new` for every language, then each project's own build.sh and
# `gavel test` on its case file: a fresh scaffold must build and pass.
#
#   tests/scaffolds.sh [LANG...]      default: rules rust python js c
#
# A language whose toolchain is not installed is skipped, and said so;
# with SCAFFOLDS_REQUIRE=all (CI) a skip is a failure.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
gavel="${GAVEL:-$repo/target/release/gavel}"
langs=("$@")
[ ${#langs[@]} -gt 0 ] || langs=(rules rust python js c)

missing_tool() {
    case "$1" in
        rules) return 1 ;;
        rust) command -v cargo >/dev/null || { echo cargo; return 0; }
              rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || { echo "rustup target wasm32-wasip2"; return 0; }
              return 1 ;;
        python) command -v python3 >/dev/null || { echo python3; return 0; }; return 1 ;;
        js) command -v npm >/dev/null || { echo "node and npm"; return 0; }; return 1 ;;
        c) command -v clang-19 >/dev/null || { echo clang-19; return 0; }
           command -v wasm-ld-19 >/dev/null || { echo "lld-19 (wasm-ld-19)"; return 0; }
           return 1 ;;
        *) echo "unknown language $1"; return 0 ;;
    esac
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=0
for lang in "${langs[@]}"; do
    if tool="$(missing_tool "$lang")"; then
        echo "skip  $lang: $tool is not installed"
        if [ "${SCAFFOLDS_REQUIRE:-}" = all ]; then failed=1; fi
        continue
    fi
    name="example-$lang"
    dir="$work/$lang"
    if ! "$gavel" new "$name" --lang "$lang" --dir "$dir" >/dev/null \
        || ! (cd "$dir/$name" && ./build.sh) > "$work/$lang.build.log" 2>&1; then
        echo "FAIL  $lang: gavel new or build.sh failed:"; cat "$work/$lang.build.log" || true
        failed=1; continue
    fi
    if (cd "$dir/$name" && "$gavel" test tests --policies . --data-dir "$work/data-$lang" --quiet) \
        > "$work/$lang.test.log" 2>&1; then
        echo "pass  $lang: $(tail -n 1 "$work/$lang.test.log")"
    else
        echo "FAIL  $lang: gavel test:"; cat "$work/$lang.test.log"
        failed=1
    fi
done
exit $failed
