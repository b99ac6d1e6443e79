#!/usr/bin/env bash
# The contextual-bandit bench against Vowpal Wabbit (bench/RESULTS.md,
# "Learning from every shown slot"): the world of sim/bandit_world.h (300
# items with short texts, 500 users with persistent tastes, 50 random
# candidates a request, k = 5, position-biased clicks, half the users'
# tastes shifting at request 10,000 of 20,000), driven request by request by
# rtrec-bandit-bench, which reports every shown slot (1 clicked, 0 not).
# Per seed, on the same stream (common random numbers): rtrec on the shipped
# defaults (only the listen addresses set) over gRPC at RATE requests/s,
# Vowpal Wabbit --cb_explore_adf --squarecb and --softmax, and, from the
# world itself, uniform random and the oracle. Two reference learners that
# no service could be are run beside them to show what the world allows:
# "informed" is told every item's topic and quality and learns each user's
# per-topic click rate (Beta counts, forgetting, a reset on surprise);
# "informed_pairs" is told the world's whole model but the users' tastes and
# keeps each user's exact posterior over the topic pairs they may like.
#
# Then the learner's throughput on the same defaults: seed 1's stream sent
# by 4 clients side by side at RATE slates/s (each slate's five reports at
# once), with the learner's backlog watched and refused feedback counted;
# and REPLAY organic events streamed through StreamFeedback, timed until they
# are sent and until the learner has digested them all (0 skips it).
#
#   bash bench/run_bandit_bench.sh [SEEDS="1 2 3"] [RATE=300] [REPLAY=100000]
#   bash bench/run_bandit_bench.sh "" 300 100000    # the replay alone
#
# VW: $VW_BIN, else ../shared/tools/vw/vw; without it only rtrec runs.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${RTREC_BUILD_DIR:-build}"
SEEDS="${1-1 2 3}"
RATE="${2:-300}"
REPLAY="${3:-100000}"
WORK="$(mktemp -d)"
OUT="$BUILD_DIR/bench/bandit"
mkdir -p "$OUT"
source bench/server_lib.sh
VW="${VW_BIN:-$(pwd)/../shared/tools/vw/vw}"

for seed in $SEEDS; do
  start_server "rtrec-$seed" 'server:
  listen_address: "127.0.0.1:0"
  metrics_address: ""'
  "$BUILD_DIR/rtrec-bandit-bench" --policy rtrec --target "127.0.0.1:$PORT" --seed "$seed" --rate "$RATE" \
    --summary "$OUT/rtrec-$seed.txt" --csv "$OUT/rtrec-$seed.csv"
  stop_server
  for p in informed informed_pairs; do
    "$BUILD_DIR/rtrec-bandit-bench" --policy "$p" --seed "$seed" --rate 0 \
      --summary "$OUT/$p-$seed.txt" --csv "$OUT/$p-$seed.csv"
  done
  if [ -x "$VW" ]; then
    for p in vw_squarecb vw_softmax; do
      "$BUILD_DIR/rtrec-bandit-bench" --policy "$p" --vw "$VW" --seed "$seed" \
        --summary "$OUT/$p-$seed.txt" --csv "$OUT/$p-$seed.csv"
    done
  fi
done

if [ -n "$SEEDS" ]; then
  start_server throughput 'server:
  listen_address: "127.0.0.1:0"
  metrics_address: ""'
  "$BUILD_DIR/rtrec-bandit-bench" --policy rtrec --target "127.0.0.1:$PORT" --seed 1 --rate "$RATE" \
    --concurrency 4 --summary "$OUT/throughput.txt" --csv "$OUT/throughput.csv"
  stop_server
  t="$OUT/throughput.txt"
  echo "throughput: $(sed -n 's/^requests=//p' "$t") slates in $(sed -n 's/^seconds=//p' "$t") s by 4 clients," \
    "learner backlog at most $(sed -n 's/^experiences_pending_max=//p' "$t") experiences," \
    "$(sed -n 's/^feedback_refused=//p' "$t") feedback refused, $(sed -n 's/^learner_steps=//p' "$t") learner steps"
fi

if [ "$REPLAY" -gt 0 ]; then
  start_server replay 'server:
  listen_address: "127.0.0.1:0"
  metrics_address: ""'
  "$BUILD_DIR/rtrec-bandit-bench" --policy rtrec --target "127.0.0.1:$PORT" --replay_events "$REPLAY" \
    | tee "$OUT/replay.txt"
  stop_server
fi

val() { sed -n "s/^$2=//p" "$OUT/$1.txt"; }
echo
echo "| seed | policy | before shift | end | recovery (requests) | uniform |"
echo "|---|---|---|---|---|---|"
for seed in $SEEDS; do
  for p in rtrec vw_squarecb vw_softmax informed informed_pairs; do
    [ -f "$OUT/$p-$seed.txt" ] || continue
    echo "| $seed | $p | $(val "$p-$seed" before) | $(val "$p-$seed" end) | $(val "$p-$seed" recovery_requests) | $(val "$p-$seed" uniform_before) |"
  done
done
echo "summaries and curves in $OUT"
