#!/usr/bin/env bash
# Rules need no build: rules.wasm runs them. This copies rules.wasm from the
# Gavel checkout ({{gavel_root}}, or $GAVEL_POLICIES) next to policies.toml.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
src="${GAVEL_POLICIES:-{{gavel_root}}/policies-wasm}/rules.wasm"
[ -f "$src" ] || { echo "build.sh: no rules.wasm at $src (set GAVEL_POLICIES to Gavel's policies-wasm)" >&2; exit 1; }
cp "$src" rules.wasm
echo "copied rules.wasm ($(wc -c < rules.wasm) bytes)"
