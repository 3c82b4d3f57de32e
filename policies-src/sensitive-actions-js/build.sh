#!/usr/bin/env bash
# Build the JavaScript `sensitive-actions` policy into a component.
#
#   build.sh [OUT]   OUT defaults to policies-wasm/sensitive_actions_js.wasm
#
# componentize-js does not give the same bytes twice, so every component
# records the digest of the sources it came from (custom section
# `gavel-source-digest`, written by ../sensitive-actions-py/source_stamp.py)
# and a build happens only when that digest changed. FORCE=1 rebuilds
# anyway. Never uses componentize-js's ahead-of-time option (weval), which
# downloads a binary.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
default_out="$repo/policies-wasm/sensitive_actions_js.wasm"
out="${1:-$default_out}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
wit="$repo/wit/v0.3.0"

for tool in node npm python3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "build.sh: \`$tool\` is not installed; this build needs Node.js 20 (node, npm) and python3" >&2
        exit 1
    fi
done

stamp() { python3 "$repo/policies-src/sensitive-actions-py/source_stamp.py" "$@"; }

# Everything the component is built from: the policy, the helper module,
# the pinned toolchain (package-lock.json), this script and the WIT.
sources() {
    (
        cd "$repo"
        printf '%s\n' \
            policies-src/sensitive-actions-js/build.sh \
            policies-src/sensitive-actions-js/package.json \
            policies-src/sensitive-actions-js/package-lock.json \
            sdk/js/package.json
        find policies-src/sensitive-actions-js/src sdk/js -name '*.js' \
            -not -path '*/node_modules/*' -not -path 'sdk/js/test/*'
        find wit/v0.3.0 -name '*.wit'
    ) | LC_ALL=C sort
}
digest="sha256:$(
    cd "$repo"
    sources | while read -r f; do printf '%s\0' "$f"; sha256sum < "$f"; done | sha256sum | cut -d' ' -f1
)"

if [ "${FORCE:-0}" != 1 ]; then
    if [ "$(stamp read "$out")" = "$digest" ]; then
        echo "sensitive_actions_js.wasm: up to date ($out)"
        exit 0
    fi
    if [ "$out" != "$default_out" ] && [ "$(stamp read "$default_out")" = "$digest" ]; then
        mkdir -p "$(dirname "$out")"
        cp "$default_out" "$out"
        echo "sensitive_actions_js.wasm: up to date, copied to $out"
        exit 0
    fi
fi

# Install the pinned toolchain when node_modules is missing or the lock
# changed since the last install.
if ! cmp -s "$here/package-lock.json" "$here/node_modules/.gavel-package-lock.json"; then
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$here/package-lock.json" "$here/node_modules/.gavel-package-lock.json"
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
node "$here/node_modules/gavel-policy/componentize.js" \
    --project "$here" --src "$here/src/policy.js" --wit "$wit" --world policy-world \
    --out "$tmp/out.wasm"
stamp write "$tmp/out.wasm" "$digest"
mkdir -p "$(dirname "$out")"
mv -f "$tmp/out.wasm" "$out"
echo "built $out ($(wc -c < "$out") bytes, $digest)"
