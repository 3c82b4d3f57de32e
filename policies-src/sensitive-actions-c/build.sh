#!/usr/bin/env bash
# Build the C `sensitive-actions` policy into a component.
#
#   build.sh [OUT]   OUT defaults to policies-wasm/sensitive_actions_c.wasm
#
# clang (wasm32-wasi, reactor) compiles the policy, Gavel's C SDK (sdk/c)
# and the wit-bindgen bindings into a preview-1 core module; `gavel
# componentize` turns it into a component. The build is byte-reproducible
# (no paths, no timestamps), so OUT is replaced only when its bytes change.
#
# Environment: CC (default clang-19, else clang), GAVEL (default
# target/release/gavel).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${1:-$repo/policies-wasm/sensitive_actions_c.wasm}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
sdk="$repo/sdk/c"

cc="${CC:-}"
if [ -z "$cc" ]; then
    for candidate in clang-19 clang; do
        if command -v "$candidate" >/dev/null; then cc="$candidate"; break; fi
    done
fi
[ -n "$cc" ] && command -v "$cc" >/dev/null || {
    echo "build.sh: no clang found (apt-get install clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32, or set CC)" >&2
    exit 1
}
gavel="${GAVEL:-$repo/target/release/gavel}"
[ -x "$gavel" ] || {
    echo "build.sh: $gavel not found (cargo build --release --locked --workspace --bins, or set GAVEL)" >&2
    exit 1
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# Debian installs wasi-libc for the target `wasm32-wasi`; `-mexec-model=reactor`
# links crt1-reactor.o (no `_start`; `_initialize` runs the constructors).
# -ffile-prefix-map keeps the checkout's path out of the module; the linker
# drops the debug sections and keeps the names (readable traps).
"$cc" --target=wasm32-wasi -mexec-model=reactor -O2 -std=c11 \
    -Wall -Wextra -Werror \
    -ffile-prefix-map="$repo"=. -ffile-prefix-map="$tmp"=. \
    -I "$sdk" \
    -Wl,--strip-debug \
    -o "$tmp/core.wasm" \
    "$here/src/sensitive_actions.c" "$sdk/gavel_policy.c" "$sdk/policy_world.c" \
    "$sdk/policy_world_component_type.o"
"$gavel" componentize "$tmp/core.wasm" -o "$tmp/out.wasm" >/dev/null

mkdir -p "$(dirname "$out")"
if cmp -s "$tmp/out.wasm" "$out"; then
    echo "sensitive_actions_c.wasm: up to date ($out)"
else
    mv -f "$tmp/out.wasm" "$out"
    echo "built $out ($(wc -c < "$out") bytes)"
fi
