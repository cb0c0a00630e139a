#!/usr/bin/env bash
# Builds the static site into a folder ready for any static host:
#
#   OUT/index.html          the page (no inline scripts or styles)
#   OUT/config.json         relay addresses; empty values mean "same origin"
#   OUT/web/*.js, *.css     the page, the JS API, the worker, the service worker
#   OUT/web/app.js          the page's modules bundled into one (app/*.js; wasmhole.js apart)
#   OUT/web/app/*.js        the same modules unbundled, for reading and reuse
#   OUT/web/wasm_exec.js    Go's JS glue, copied from the toolchain that built the wasm
#   OUT/web/wasmhole.wasm   the Go client (GOOS=js GOARCH=wasm, -trimpath -s -w,
#                           no inlining: see below)
#   OUT/web/wasm-hash.js    the wasm's SHA-256; the worker refuses any other wasm
#   OUT/web/datapath.js, datapath-worker.js
#                           the JS data path (web/datapath/) bundled with its npm
#                           dependencies (libsodium-wrappers, hash-wasm) by esbuild
#   OUT/web/qrcode.js       the QR encoder (npm package qr) bundled by the same
#                           esbuild; the page imports it when it shows a code
#
# Usage: scripts/build-web.sh [OUT]   (default: dist, which .gitignore lists)
# Env:   WASMHOLE_CONFIG=FILE  use FILE as config.json instead of web/config.json
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
out=${1:-dist}
goroot=$(go env GOROOT)
# Go 1.24 moved wasm_exec.js from misc/wasm to lib/wasm.
wasm_exec=$goroot/lib/wasm/wasm_exec.js
[ -f "$wasm_exec" ] || wasm_exec=$goroot/misc/wasm/wasm_exec.js

tmp=$(mktemp -d "${TMPDIR:-/tmp}/wasmhole-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/web/app"

# No inlining anywhere (-gcflags=all=-l): the inlined copies of small
# functions are 56 KB of the gzip. A transfer's bytes go through the JS data
# path (web/datapath/) in every engine; what -l slows is the Go pipeline,
# the fallback for what that path declines (web/README.md, Size).
GOOS=js GOARCH=wasm go build -trimpath -gcflags=all=-l -ldflags='-s -w' -o "$tmp/web/wasmhole.wasm" ./wasm
cp "$wasm_exec" "$tmp/web/wasm_exec.js"
cp index.html "$tmp/"
cp "${WASMHOLE_CONFIG:-web/config.json}" "$tmp/config.json"
for f in web/*.js web/*.css web/*.svg web/README.md; do
  [ -f "$f" ] && cp "$f" "$tmp/web/"
done
cp web/app/*.js "$tmp/web/app/"

# The data path's npm packages come from web/datapath/package-lock.json
# (scripts/install-deps.sh installs them; a fresh checkout gets them here).
dp=web/datapath
[ -d "$dp/node_modules/esbuild" ] || (cd "$dp" && npm ci --no-audit --no-fund --loglevel=error)
(cd "$dp" && node build.mjs "$tmp/web")

# The page's modules (app.js, app/*.js) as one file, with the same esbuild
# (see build.mjs --page). web/app/ stays in OUT for reading and reuse; the
# page itself loads only the bundle and wasmhole.js.
(cd "$dp" && node build.mjs "$tmp/web" --page)

sum=$(sha256sum "$tmp/web/wasmhole.wasm" | cut -d' ' -f1)
cat >"$tmp/web/wasm-hash.js" <<EOF
// Written by scripts/build-web.sh: the SHA-256 of wasmhole.wasm. worker.js
// checks the downloaded wasm against it before instantiating it.
self.WASMHOLE_WASM_SHA256 = "$sum";
EOF

# Replace OUT only once everything built, so a failed build leaves the old site.
rm -rf "$out"
mkdir -p "$(dirname "$out")"
mv "$tmp" "$out"
trap - EXIT
chmod -R a+rX "$out"

raw=$(stat -c %s "$out/web/wasmhole.wasm")
gz=$(gzip -9 -c "$out/web/wasmhole.wasm" | wc -c)
br=""
command -v brotli >/dev/null && br=", $(brotli -q 11 -c "$out/web/wasmhole.wasm" | wc -c) bytes brotli -q 11"
echo "build-web: $out ready; wasmhole.wasm $raw bytes, $gz bytes gzip -9$br, sha256 $sum"
