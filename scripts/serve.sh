#!/usr/bin/env bash
# Starts the whole thing on localhost: builds the page into dist/ and runs
# the relay (mailbox server on :4000/v1, transit relay on TCP :4001 and
# WebSocket :4000/transit) serving that page at http://127.0.0.1:4000/.
# Extra arguments go to `relay serve` (e.g. --db :memory: or --motd TEXT).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
http=${WASMHOLE_HTTP:-127.0.0.1:4000}
tcp=${WASMHOLE_TRANSIT_TCP:-127.0.0.1:4001}
scripts/build-web.sh
mkdir -p .state
go build -trimpath -o .state/relay ./relay
echo "wasmhole: open http://$http/  (CLI: wormhole --relay-url ws://$http/v1 --transit-helper tcp:$tcp receive CODE)"
exec .state/relay serve --http "$http" --transit-tcp "$tcp" --db .state/relay.sqlite --site dist \
  --admin-socket .state/admin.sock "$@"
