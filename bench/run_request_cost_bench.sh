#!/usr/bin/env bash
# Server CPU per Recommend, rtrec vs a trivial server of the same proto, side
# by side in one run from the same load generator:
#  - rtrec_server on the demo catalog (240 items), default config, learner off;
#  - rtrec_trivial_server (bench/trivial_server.cc): gRPC's callback API, a
#    fixed 10-item answer sent from the gRPC thread.
# Each is warmed up, then driven for SECONDS at CONCURRENCY; the server's
# user+system CPU over the measured run (/proc/PID/stat) is divided by the
# Recommends it answered.
#
#   bash bench/run_request_cost_bench.sh [concurrency=32] [seconds=10]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${RTREC_BUILD_DIR:-build}"
CONCURRENCY="${1:-32}"
SECONDS_PER_RUN="${2:-10}"
WORK="$(mktemp -d)"
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
source bench/server_lib.sh
TICKS=$(getconf CLK_TCK)

cpu_seconds() { awk -v t="$TICKS" '{ printf "%.3f", ($14 + $15) / t }' "/proc/$1/stat"; }

measure() {  # label: drives $PORT, writes $WORK/label.json and label.cpu
  "$BUILD_DIR/rtrec_load_generator" --target "127.0.0.1:$PORT" --concurrency "$CONCURRENCY" \
    --seconds 3 --warmup_seconds 0 --k 10 --label warmup > /dev/null
  local before after
  before=$(cpu_seconds "$PID")
  "$BUILD_DIR/rtrec_load_generator" --target "127.0.0.1:$PORT" --concurrency "$CONCURRENCY" \
    --seconds "$SECONDS_PER_RUN" --warmup_seconds 0 --k 10 --label "$1" | tee "$WORK/$1.json"
  after=$(cpu_seconds "$PID")
  awk -v a="$before" -v b="$after" 'BEGIN { printf "%.3f", b - a }' > "$WORK/$1.cpu"
}

start_server rtrec "server:
  listen_address: \"127.0.0.1:0\"
  metrics_address: \"\"
catalog:
  path: \"$PWD/data/demo_catalog.jsonl\"
learner:
  enabled: false"
measure rtrec
stop_server

"$BUILD_DIR/rtrec_trivial_server" --port 0 > "$WORK/trivial.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
  PORT="$(sed -n 's/listening on port \([0-9]*\).*/\1/p' "$WORK/trivial.log")"
  [ -n "$PORT" ] && break
  sleep 0.1
done
measure trivial
kill -TERM "$PID"; wait "$PID" || true; PID=""

per_request() { awk -v c="$(cat "$WORK/$1.cpu")" -v n="$(field "$1" requests)" 'BEGIN { printf "%.1f", c / n * 1e6 }'; }
r_us=$(per_request rtrec); t_us=$(per_request trivial)
echo
echo "| server, concurrency $CONCURRENCY, k = 10 | Recommend/s | p99 ms | server CPU per Recommend |"
echo "|---|---|---|---|"
echo "| rtrec_server (demo catalog, 240 items, learner off) | $(field rtrec qps) | $(field rtrec p99_ms) | $r_us µs |"
echo "| rtrec_trivial_server (same proto, fixed answer) | $(field trivial qps) | $(field trivial p99_ms) | $t_us µs |"
awk -v a="$r_us" -v b="$t_us" 'BEGIN { printf "| ratio rtrec / trivial | | | %.2fx |\n", a / b }'
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); ${SECONDS_PER_RUN}s per server; the load generator runs on the same cores"
