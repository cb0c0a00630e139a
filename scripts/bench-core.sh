#!/usr/bin/env bash
# Throughput of our core against wormhole-william through the reference
# transit relay (Python magic-wormhole-transit-relay 0.2.1), relay forced on
# both: our core sends to our core with RelayOnly, wormhole-william to
# wormhole-william inside a network namespace without any non-loopback
# address (netns-run.sh without --addr), where it has no direct hint to
# offer. Prints MB/s of both and the ratio (goal: core >= 3x william).
#
# Usage: scripts/bench-core.sh [BYTES] [extra test flags, e.g. -test.cpuprofile=/tmp/cpu.out]
#   BYTES defaults to 1073741824 (1 GiB). Needs root (namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
bytes=${1:-1073741824}
shift || true
. scripts/shared.sh

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/wormhole.test" ./core/wormhole

# WASMHOLE_IN_NETNS=1 tells internal/peers we already are in the namespace,
# so it does not re-enter one with --addr 198.18.0.1.
cd core/wormhole
"$shared/peers/netns-run.sh" env WASMHOLE_IN_NETNS=1 WASMHOLE_BENCH_BYTES="$bytes" TMPDIR="$tmp" \
  "$tmp/wormhole.test" -test.run '^$' -test.bench '^BenchmarkRelayVsWilliam$' -test.benchtime 1x "$@"
