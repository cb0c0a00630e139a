#!/usr/bin/env bash
# Builds the Cloudflare Worker relay (relay/worker): the Go relay core for
# GOOS=js GOARCH=wasm plus Go's JavaScript glue, into relay/worker/dist/.
# Wrangler then bundles dist/ with relay/worker/src/index.js.
#
#   relay/worker/dist/relay.wasm    relay/worker/wasm (mailbox + transit), -trimpath -s -w
#   relay/worker/dist/wasm_exec.js  from the Go toolchain that built relay.wasm
#
# Usage: scripts/build-worker.sh
# Then:  cd relay/worker && npx wrangler dev      (or: npx wrangler deploy)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
out=relay/worker/dist
goroot=$(go env GOROOT)
# Go 1.24 moved wasm_exec.js from misc/wasm to lib/wasm.
wasm_exec=$goroot/lib/wasm/wasm_exec.js
[ -f "$wasm_exec" ] || wasm_exec=$goroot/misc/wasm/wasm_exec.js

tmp=$(mktemp -d "${TMPDIR:-/tmp}/wasmhole-worker.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
GOOS=js GOARCH=wasm go build -trimpath -ldflags='-s -w' -o "$tmp/relay.wasm" ./relay/worker/wasm
cp "$wasm_exec" "$tmp/wasm_exec.js"

# Swap in the new files only once both built.
mkdir -p "$out"
mv "$tmp/relay.wasm" "$tmp/wasm_exec.js" "$out/"

raw=$(stat -c %s "$out/relay.wasm")
gz=$(gzip -9 -c "$out/relay.wasm" | wc -c)
echo "build-worker: $out ready; relay.wasm $raw bytes, $gz bytes gzip -9 (Workers limit: 3 MB compressed on Free, 10 MB on Paid)"
