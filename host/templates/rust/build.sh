#!/usr/bin/env bash
# Build {{snake}}.wasm (a wasm32-wasip2 component) into this folder.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
command -v cargo >/dev/null || { echo "build.sh: cargo is not installed (https://rustup.rs)" >&2; exit 1; }
if command -v rustup >/dev/null; then
    rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
fi
cargo build --release --target wasm32-wasip2
cp target/wasm32-wasip2/release/{{snake}}.wasm {{snake}}.wasm
echo "built {{snake}}.wasm ($(wc -c < {{snake}}.wasm) bytes)"
