#!/usr/bin/env bash
# Browser benchmark: the page (Chromium, no DevTools client attached) sends
# to and receives from the Python `wormhole` CLI through our relay, against
# Python -> Python and plain JS over the relay's /transit in the same run;
# then peak memory while sending and receiving. See web/test/bench.mjs.
#
# Usage: scripts/bench-web.sh
# Env:   WASMHOLE_BENCH_MIB (1024), WASMHOLE_BENCH_ROUNDS (2),
#        WASMHOLE_BENCH_PATHS ("js"; "js,go" adds the Go pipeline),
#        WASMHOLE_BENCH_WORKERS (crypto workers), WASMHOLE_BENCH_MEMORY=0,
#        WASMHOLE_BENCH_DIRECTIONS ("send,receive"), WASMHOLE_BENCH_THREADS=1,
#        WASMHOLE_BENCH_PROFILE=1 (a CPU profile in the memory pass)
set -euo pipefail
cd "$(dirname "$0")/../web/test"
export PATH=$PATH:/usr/local/go/bin
[ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund --loglevel=error
exec node bench.mjs
