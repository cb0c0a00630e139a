#!/usr/bin/env bash
# Transit relay benchmarks: wasmhole's relay and the reference relay
# (magic-wormhole-transit-relay 0.2.1) side by side in one run, each as its
# own process, the load from the go test process:
#   - CPU seconds per GiB through one pair (target: ours <= 0.5x reference)
#   - aggregate throughput of 50 parallel pairs
# Needs the reference peers ($WASMHOLE_SHARED/peers/install.sh, see
# scripts/shared.sh). As root the benchmarks run inside a
# private network namespace (peers.Main). Extra arguments go to go test,
# e.g. scripts/bench-relay.sh -count 3
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
go=${GO:-go}
command -v "$go" >/dev/null || go=/usr/local/go/bin/go
exec "$go" test -run '^$' -bench 'Transit' -benchtime 1x "$@" ./relay/
