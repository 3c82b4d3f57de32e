#!/usr/bin/env bash
# Build the Python `sensitive-actions` policy into a component.
#
#   build.sh [OUT]   OUT defaults to policies-wasm/sensitive_actions_py.wasm
#
# Rebuilds only when the sources changed: every component records the
# digest of the sources it came from (see source_stamp.py), because
# componentize-py gives different bytes on every build.
# FORCE=1 rebuilds anyway.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
default_out="$repo/policies-wasm/sensitive_actions_py.wasm"
out="${1:-$default_out}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac

venv="$repo/policies-src/target/py-venv"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
# Install the pinned requirements when they change.
if ! cmp -s "$here/requirements.txt" "$venv/requirements.txt"; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$venv/requirements.txt"
fi

stamp() { "$venv/bin/python" "$here/source_stamp.py" "$@"; }
digest="$(stamp digest "$here" "$repo/wit")"

if [ "${FORCE:-0}" != 1 ]; then
    if [ "$(stamp read "$out")" = "$digest" ]; then
        echo "sensitive_actions_py.wasm: up to date ($out)"
        exit 0
    fi
    if [ "$out" != "$default_out" ] && [ "$(stamp read "$default_out")" = "$digest" ]; then
        mkdir -p "$(dirname "$out")"
        cp "$default_out" "$out"
        echo "sensitive_actions_py.wasm: up to date, copied to $out"
        exit 0
    fi
fi

# componentize-py also searches $VIRTUAL_ENV's site-packages (or the running
# Python's) for modules; point it at an empty one so that only src/ goes in.
empty="$repo/policies-src/target/py-empty-env"
mkdir -p "$empty/lib/site-packages"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(
    cd "$tmp"
    VIRTUAL_ENV="$empty" "$venv/bin/componentize-py" --quiet \
        -d "$repo/wit" -w policy-world \
        componentize -p "$here/src" policy -o "$tmp/out.wasm"
)
stamp write "$tmp/out.wasm" "$digest"
mkdir -p "$(dirname "$out")"
mv -f "$tmp/out.wasm" "$out"
echo "built $out ($(wc -c < "$out") bytes, $digest)"
