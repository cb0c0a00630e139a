#!/usr/bin/env bash
# Installs everything the tests need on a clean Debian machine, idempotently:
# the reference peers ($WASMHOLE_SHARED/peers/install.sh, see
# scripts/shared.sh), the three browser engines of the browser tests
# (Chromium; Firefox ESR; WebKitGTK's MiniBrowser with WebKitWebDriver, on an
# Xvfb display), python3-spake2 for the SPAKE2 interop test, podman for the container build check, staticcheck, the Go
# modules and the npm packages (the JS checkers at the root, the browser
# tests, the Worker).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/shared.sh
export PATH=$PATH:/usr/local/go/bin:$(go env GOPATH)/bin

bash "$shared/peers/install.sh" >/dev/null

apt_pkgs=(chromium firefox-esr webkit2gtk-driver libwebkit2gtk-4.1-0 xvfb xauth iproute2 python3-spake2 podman zbar-tools ca-certificates)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

go mod download
go install honnef.co/go/tools/cmd/staticcheck@v0.8.2

# The root package.json pins the JS checkers (prettier, eslint, typescript).
for d in . web/test web/datapath relay/worker; do
  if [ -f "$d/package.json" ]; then
    (cd "$d" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done
