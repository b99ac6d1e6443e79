#!/usr/bin/env bash
# The online learner's figures for bench/RESULTS.md, in one run:
#  1. rtrec_learner_bench: learner examples/s, and the time from a learner
#     step to the first Recommend answered by the snapshot it produced.
#  2. Serving p99 while the learner publishes every second, divided by
#     serving p99 with the learner off: rtrec_server on the demo catalog three
#     times, the same closed-loop load with a click sent after every slate
#     (rtrec_load_generator --feedback_share 1): learner on without a budget,
#     learner on at its CPU budget (learner.nice 19, intra_op_threads 1,
#     max_steps_per_second BUDGET_STEPS), learner off; with the learning speed
#     (examples and steps learned during the run, from /metrics) beside each,
#     and the step-to-served p50/p99 the server measured
#     (rtrec_learner_step_to_served_seconds, from outside the learner).
#
#   bash bench/run_learner_bench.sh [concurrency=8] [seconds=15] [budget_steps=10]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${RTREC_BUILD_DIR:-build}"
CONCURRENCY="${1:-8}"
SECONDS_PER_RUN="${2:-15}"
BUDGET_STEPS="${3:-10}"
WORK="$(mktemp -d)"
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
source bench/server_lib.sh

"$BUILD_DIR/rtrec_learner_bench" | tee "$WORK/inprocess.json"

metric() { curl -s "http://127.0.0.1:$MPORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
# Quantile q of a Prometheus histogram from its cumulative buckets (the
# upper bound of the first bucket holding q of the count), in ms.
histogram_ms() {
  curl -s "http://127.0.0.1:$MPORT/metrics" | awk -v m="$1_bucket" -v q="$2" '
    index($0, m "{") == 1 { split($0, a, "le=\""); split(a[2], b, "\""); le[n] = b[1]; c[n] = $2; n++ }
    END { if (n == 0 || c[n-1] == 0) { print "-"; exit } for (i = 0; i < n; i++) if (c[i] >= q * c[n-1]) { printf "%s", (le[i] == "+Inf" ? "inf" : le[i] * 1000); exit } }'
}

serving_run() {  # label learner_enabled [extra learner yaml]
  start_server "$1" "server:
  listen_address: \"127.0.0.1:0\"
  metrics_address: \"127.0.0.1:0\"
catalog:
  path: \"$PWD/data/demo_catalog.jsonl\"
impressions:
  reward_wait_ms: 2000
learner:
  enabled: $2
  publish_every: 100000000
  publish_interval_ms: 1000
${3:-}"
  MPORT="$(sed -n 's/.*metrics on port \([0-9]*\).*/\1/p' "$WORK/$1.log" | head -1)"
  "$BUILD_DIR/rtrec_load_generator" --target "127.0.0.1:$PORT" --concurrency "$CONCURRENCY" \
    --seconds "$SECONDS_PER_RUN" --warmup_seconds 3 --k 10 --feedback_share 1 --label "$1" \
    | tee "$WORK/$1.json" || true
  echo "$(metric rtrec_learner_examples_total) $(metric rtrec_learner_steps_total) $(histogram_ms rtrec_learner_step_to_served_seconds 0.5) $(histogram_ms rtrec_learner_step_to_served_seconds 0.99)" > "$WORK/$1.learned"
  stop_server
}
serving_run learner_on true
serving_run learner_budget true "  nice: 19
  intra_op_threads: 1
  max_steps_per_second: $BUDGET_STEPS"
serving_run learner_off false
learned() { awk -v i="$2" '{ print $i }' "$WORK/$1.learned"; }

eps=$(field inprocess examples_per_s); sps=$(field inprocess steps_per_s)
l50=$(field inprocess step_to_served_p50_ms); l99=$(field inprocess step_to_served_p99_ms)
chk=$(field inprocess publish_check_p50_ms); items=$(field inprocess items)
on99=$(field learner_on p99_ms); off99=$(field learner_off p99_ms)
on50=$(field learner_on p50_ms); off50=$(field learner_off p50_ms)
onq=$(field learner_on qps); offq=$(field learner_off qps)
echo
echo "| learner figure | value |"
echo "|---|---|"
echo "| examples/s (batch $(field inprocess batch_size), $items items) | $eps ($sps steps/s) |"
echo "| publish check (clone + finiteness + SNIPS on guard window), p50 | $chk ms |"
echo "| learner step → first Recommend on the new version, p50 / p99 | $l50 / $l99 ms |"
echo
echo "| serving, concurrency $CONCURRENCY, click after every slate | QPS | p50 ms | p99 ms | examples learned | learner steps | step → served p50 / p99 (server's histogram, ms) |"
echo "|---|---|---|---|---|---|---|"
echo "| learner on, publishing every second, no budget | $onq | $on50 | $on99 | $(learned learner_on 1) | $(learned learner_on 2) | $(learned learner_on 3) / $(learned learner_on 4) |"
echo "| learner on at its budget (nice 19, 1 thread, ≤ $BUDGET_STEPS steps/s) | $(field learner_budget qps) | $(field learner_budget p50_ms) | $(field learner_budget p99_ms) | $(learned learner_budget 1) | $(learned learner_budget 2) | $(learned learner_budget 3) / $(learned learner_budget 4) |"
echo "| learner off | $offq | $off50 | $off99 | 0 | 0 | |"
awk -v a="$onq" -v b="$offq" -v c="$on50" -v d="$off50" -v e="$on99" -v f="$off99" \
  'BEGIN { printf "| ratio on / off | %.2fx | %.2fx | %.2fx | | | |\n", a/b, c/d, e/f }'
awk -v a="$(field learner_budget qps)" -v b="$offq" -v c="$(field learner_budget p50_ms)" -v d="$off50" \
  -v e="$(field learner_budget p99_ms)" -v f="$off99" \
  'BEGIN { printf "| ratio at budget / off | %.2fx | %.2fx | %.2fx | | | |\n", a/b, c/d, e/f }'
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); ${SECONDS_PER_RUN}s per setting"
