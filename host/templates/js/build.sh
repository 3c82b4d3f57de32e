#!/usr/bin/env bash
# Build {{snake}}.wasm from src/policy.js with componentize-js (pinned in
# package.json, installed into ./node_modules on the first build; the
# helper module gavel-policy comes from {{gavel_root}}/sdk/js).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
wit="${GAVEL_WIT:-{{gavel_root}}/wit/v0.3.0}"
[ -f "$wit/policy.wit" ] || { echo "build.sh: no WIT at $wit (set GAVEL_WIT to Gavel's wit/v0.3.0)" >&2; exit 1; }
for tool in node npm; do
    command -v "$tool" >/dev/null || { echo "build.sh: $tool is not installed (this build needs Node.js 20 or newer, with npm)" >&2; exit 1; }
done
major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$major" -ge 20 ] || { echo "build.sh: Node.js $major is too old (this build needs Node.js 20 or newer)" >&2; exit 1; }
# Install when node_modules is missing or package-lock.json changed. The
# first build writes package-lock.json: keep it with the sources.
if [ ! -f package-lock.json ]; then
    npm install --no-audit --no-fund --loglevel=error
    cp package-lock.json node_modules/.gavel-package-lock.json
elif ! cmp -s package-lock.json node_modules/.gavel-package-lock.json; then
    npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json node_modules/.gavel-package-lock.json
fi
# Never the ahead-of-time option (weval): it downloads a binary.
node node_modules/gavel-policy/componentize.js --project . \
    --src src/policy.js --wit "$wit" --world policy-world --out {{snake}}.wasm
echo "built {{snake}}.wasm ($(wc -c < {{snake}}.wasm) bytes)"
