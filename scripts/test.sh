#!/usr/bin/env bash
# Runs every test: formatting and static checks (Go and JS), the Go tests (unit, fuzz
# seeds and interop against the real reference programs) and the browser
# tests in headless Chromium. Run as root: the interop tests enter private
# network namespaces (netns-run.sh of the reference peers, found through
# WASMHOLE_SHARED, default ../shared: see scripts/shared.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin:$(go env GOPATH)/bin

scripts/install-deps.sh

echo "== gofmt, go vet, staticcheck"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi
go vet ./...
staticcheck ./...
GOOS=js GOARCH=wasm go vet ./core/... ./wasm/... ./relay/worker/...

echo "== JS: prettier, eslint, tsc (JSDoc types of the files marked // @ts-check)"
npx --no-install prettier --check . >/dev/null || { npx --no-install prettier --list-different . >&2; echo "run: npx prettier --write ." >&2; exit 1; }
npx --no-install eslint .
npx --no-install tsc -p jsconfig.json
npx --no-install tsc -p jsconfig.worker.json

echo "== go test"
go test -timeout 30m ./...

echo "== browser tests"
scripts/build-web.sh >/dev/null
(cd web/test && npm test)

echo "== Cloudflare Worker tests (wrangler dev)"
(cd relay/worker && npm test)
