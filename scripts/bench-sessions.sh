#!/usr/bin/env bash
# Mailbox benchmarks of the real `relay serve` binary against the Python
# mailbox server 0.4.1 in the same run, the load from mbbench (a separate
# process):
#   - BenchmarkSessions: sessions/s, server CPU µs per session and p99
#     latency (connect, bind, allocate, claim, open, add, echo, release,
#     close; 64 and 8 concurrent clients) for durable (--db FILE, the
#     default --db-sync full), --db-sync normal, --db :memory: and the
#     reference, with ratios to the reference;
#   - BenchmarkIdleConns: VmRSS growth per bound idle connection held 10 s
#     (5,000 and 15,000 connections; RELAY_BENCH_IDLE_CONNS).
# Both tools are built here, before the benchmark enters its network
# namespace; a benchmark that cannot run fails (it never skips).
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
# Build the load client here, outside the network namespace the benchmark
# runs in (it has no route to the module proxy); -mod=mod completes go.sum.
. scripts/shared.sh
cp "$shared/peers/bench/mbbench/"{main.go,go.mod,go.sum} "$bin/"
(cd "$bin" && GOFLAGS=-mod=mod "$go" mod download && GOFLAGS=-mod=mod "$go" build -o "$bin/mbbench" .)
if [[ -n "${RELAY_BENCH_PROFILE:-}" ]]; then
	mkdir -p "$RELAY_BENCH_PROFILE"
	RELAY_BENCH_PROFILE=$(cd "$RELAY_BENCH_PROFILE" && pwd)
	cp "$bin/relay" "$RELAY_BENCH_PROFILE/relay"
	export RELAY_BENCH_PROFILE
fi
RELAY_BENCH_BIN="$bin/relay" MBBENCH_BIN="$bin/mbbench" PATH="$(dirname "$(command -v "$go")"):$PATH" \
	"$go" test -run '^$' -bench '^Benchmark(Sessions|IdleConns)$' -benchtime 1x "$@" ./relay/
