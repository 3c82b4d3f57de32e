#!/usr/bin/env bash
# Build {{snake}}.wasm into this folder: clang compiles src/ and Gavel's C
# SDK into a WASI preview-1 core module, `gavel componentize` makes it a
# component.
#
# Environment: CC (default clang-19, else clang), GAVEL (default `gavel` on
# PATH, else the checkout's target/release/gavel), GAVEL_SDK_C (default
# {{gavel_root}}/sdk/c), WASI_TARGET (default wasm32-wasi, Debian's
# wasi-libc), WASI_SYSROOT (a wasi-libc sysroot, e.g. wasi-sdk's).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

sdk="${GAVEL_SDK_C:-{{gavel_root}}/sdk/c}"
[ -f "$sdk/gavel_policy.h" ] || {
    echo "build.sh: no Gavel C SDK at $sdk (set GAVEL_SDK_C to the checkout's sdk/c)" >&2
    exit 1
}
cc="${CC:-}"
if [ -z "$cc" ]; then
    for candidate in clang-19 clang; do
        if command -v "$candidate" >/dev/null; then cc="$candidate"; break; fi
    done
fi
if [ -z "$cc" ] || ! command -v "$cc" >/dev/null; then
    echo "build.sh: clang is not installed (Debian: apt-get install clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32; or set CC)" >&2
    exit 1
fi
gavel="${GAVEL:-}"
if [ -z "$gavel" ]; then
    if command -v gavel >/dev/null; then
        gavel=gavel
    elif [ -x "{{gavel_root}}/target/release/gavel" ]; then
        gavel="{{gavel_root}}/target/release/gavel"
    fi
fi
if [ -z "$gavel" ] || ! command -v "$gavel" >/dev/null; then
    echo "build.sh: gavel is not on PATH (set GAVEL to the gavel binary)" >&2
    exit 1
fi

sysroot=()
[ -n "${WASI_SYSROOT:-}" ] && sysroot=(--sysroot "$WASI_SYSROOT")
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
if ! "$cc" --target="${WASI_TARGET:-wasm32-wasi}" ${sysroot[@]+"${sysroot[@]}"} -mexec-model=reactor -O2 \
    -std=c11 -Wall -Wextra -ffile-prefix-map="$here"=. -ffile-prefix-map="$sdk"=sdk \
    -I "$sdk" -Wl,--strip-debug -o "$tmp/core.wasm" \
    src/*.c "$sdk/gavel_policy.c" "$sdk/policy_world.c" "$sdk/policy_world_component_type.o"; then
    echo "build.sh: compiling for WebAssembly failed; it needs clang with lld, wasi-libc and the wasm32 compiler-rt (Debian: apt-get install clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32)" >&2
    exit 1
fi
"$gavel" componentize "$tmp/core.wasm" -o {{snake}}.wasm >/dev/null
echo "built {{snake}}.wasm ($(wc -c < {{snake}}.wasm) bytes)"
