#!/usr/bin/env bash
# The online learner's figures for bench/RESULTS.md, in one run:
#  1. rtrec_learner_bench: learner examples/s, and the time from a learner
#     step to the first Recommend answered by the snapshot it produced.
#  2. Serving p99 while the learner publishes every second, divided by
#     serving p99 with the learner off: rtrec_server on the demo catalog twice,
#     the same closed-loop load with a click sent after every slate
#     (rtrec_load_generator --feedback_share 1), learner on vs off.
#
#   bash bench/run_learner_bench.sh [concurrency=8] [seconds=15]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${RTREC_BUILD_DIR:-build}"
CONCURRENCY="${1:-8}"
SECONDS_PER_RUN="${2:-15}"
WORK="$(mktemp -d)"
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
source bench/server_lib.sh

"$BUILD_DIR/rtrec_learner_bench" | tee "$WORK/inprocess.json"

serving_run() {  # label learner_enabled
  start_server "$1" "server:
  listen_address: \"127.0.0.1:0\"
  metrics_address: \"\"
catalog:
  path: \"$PWD/data/demo_catalog.jsonl\"
impressions:
  reward_wait_ms: 2000
learner:
  enabled: $2
  publish_every: 100000000
  publish_interval_ms: 1000"
  "$BUILD_DIR/rtrec_load_generator" --target "127.0.0.1:$PORT" --concurrency "$CONCURRENCY" \
    --seconds "$SECONDS_PER_RUN" --warmup_seconds 3 --k 10 --feedback_share 1 --label "$1" \
    | tee "$WORK/$1.json" || true
  stop_server
}
serving_run learner_on true
serving_run learner_off false

eps=$(field inprocess examples_per_s); sps=$(field inprocess steps_per_s)
l50=$(field inprocess step_to_served_p50_ms); l99=$(field inprocess step_to_served_p99_ms)
chk=$(field inprocess publish_check_p50_ms); items=$(field inprocess items)
on99=$(field learner_on p99_ms); off99=$(field learner_off p99_ms)
on50=$(field learner_on p50_ms); off50=$(field learner_off p50_ms)
onq=$(field learner_on qps); offq=$(field learner_off qps)
echo
echo "| learner figure | value |"
echo "|---|---|"
echo "| examples/s (batch 64, $items items) | $eps ($sps steps/s) |"
echo "| publish check (clone + finiteness + SNIPS on guard window), p50 | $chk ms |"
echo "| learner step → first Recommend on the new version, p50 / p99 | $l50 / $l99 ms |"
echo
echo "| serving, concurrency $CONCURRENCY, click after every slate | QPS | p50 ms | p99 ms |"
echo "|---|---|---|---|"
echo "| learner on, publishing every second | $onq | $on50 | $on99 |"
echo "| learner off | $offq | $off50 | $off99 |"
awk -v a="$onq" -v b="$offq" -v c="$on50" -v d="$off50" -v e="$on99" -v f="$off99" \
  'BEGIN { printf "| ratio on/off | %.2fx | %.2fx | %.2fx |\n", a/b, c/d, e/f }'
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); ${SECONDS_PER_RUN}s per setting"
