#!/usr/bin/env bash
# Build {{snake}}.wasm from src/ with componentize-py (pinned in
# requirements.txt, installed into ./.venv on the first build).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
wit="${GAVEL_WIT:-{{gavel_root}}/wit/v0.3.0}"
[ -f "$wit/policy.wit" ] || { echo "build.sh: no WIT at $wit (set GAVEL_WIT to Gavel's wit/v0.3.0)" >&2; exit 1; }
python="${PYTHON:-python3}"
command -v "$python" >/dev/null || { echo "build.sh: $python is not installed" >&2; exit 1; }
if [ ! -x .venv/bin/componentize-py ] || ! cmp -s requirements.txt .venv/requirements.txt; then
    "$python" -m venv .venv
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
    cp requirements.txt .venv/requirements.txt
fi
# componentize-py also searches $VIRTUAL_ENV's site-packages for modules;
# point it at an empty one so that only src/ goes in.
mkdir -p .venv/empty/lib/site-packages
VIRTUAL_ENV="$here/.venv/empty" .venv/bin/componentize-py --quiet \
    -d "$wit" -w policy-world componentize -p src policy -o {{snake}}.wasm
echo "built {{snake}}.wasm ($(wc -c < {{snake}}.wasm) bytes)"
