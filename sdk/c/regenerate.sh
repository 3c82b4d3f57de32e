#!/usr/bin/env bash
# Regenerate the committed bindings (policy_world.{c,h},
# policy_world_component_type.o) from wit/v0.3.0, and gavel_debug_table.h
# from the Python twin's rust_debug.py. CI and policy builds use the
# committed files; run this only when the WIT or the generator changes.
#
# The generator is pinned: wit-bindgen-cli 0.60.0 is the release built on
# wit-component 0.254, the version `gavel componentize` encodes with.
#   cargo install wit-bindgen-cli --version 0.60.0 --locked --no-default-features --features c
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
want="wit-bindgen-cli 0.60.0"
bindgen="${WIT_BINDGEN:-wit-bindgen}"
got="$("$bindgen" --version 2>/dev/null || true)"
if [ "$got" != "$want" ]; then
    echo "regenerate.sh: need $want, found '${got:-nothing}'" >&2
    echo "  cargo install wit-bindgen-cli --version 0.60.0 --locked --no-default-features --features c" >&2
    exit 1
fi
cd "$here"
"$bindgen" c "$repo/wit/v0.3.0" --world policy-world --out-dir .
python3 gen_debug_table.py
