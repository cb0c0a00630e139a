#!/usr/bin/env bash
# Mailbox session-rate benchmark of the real `relay serve` binary:
# sessions/s (connect, bind, allocate, claim, open, add, echo, release,
# close; 64 concurrent clients from mbbench, a separate process) for
#   - durable:   relay serve --db FILE      (SQLite, synchronous=FULL)
#   - memory:    relay serve --db :memory:
#   - reference: the Python mailbox server 0.4.1, in the same run
# with ratios to the reference and the server's CPU µs per session.
# Needs the reference peers ($WASMHOLE_SHARED/peers/install.sh, see
# scripts/shared.sh). As root it runs inside a private network
# namespace (peers.Main). Environment: RELAY_BENCH_PROFILE=DIR writes
# DIR/cpu-{durable,memory}.pprof (go tool pprof -top relay DIR/cpu-durable.pprof);
# RELAY_BENCH_SECONDS (default 10), RELAY_BENCH_CLIENTS (default 64).
# Extra arguments go to go test, e.g. scripts/bench-sessions.sh -count 3
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
go=${GO:-go}
command -v "$go" >/dev/null || go=/usr/local/go/bin/go
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
"$go" build -o "$bin/relay" ./relay
if [[ -n "${RELAY_BENCH_PROFILE:-}" ]]; then
	mkdir -p "$RELAY_BENCH_PROFILE"
	RELAY_BENCH_PROFILE=$(cd "$RELAY_BENCH_PROFILE" && pwd)
	cp "$bin/relay" "$RELAY_BENCH_PROFILE/relay"
	export RELAY_BENCH_PROFILE
fi
RELAY_BENCH_BIN="$bin/relay" PATH="$(dirname "$(command -v "$go")"):$PATH" \
	"$go" test -run '^$' -bench '^BenchmarkSessions$' -benchtime 1x "$@" ./relay/
