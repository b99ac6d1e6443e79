#!/usr/bin/env bash
# The preference-shift bench (bench/RESULTS.md, "Learning curve and
# preference shift"): the same simulated stream (rtrec-sim, seed 42, 400
# slates/s, all users' liked topics shift at SHIFT seconds) against three
# servers on the demo model (config/demo.yaml, tuner off so only learning
# differs): the online learner publishing every 20 steps / 2 s, learning
# off, and the same learner publishing only every 5 minutes.
#
#   bash bench/run_sim_bench.sh [SECONDS=480] [SHIFT=240]
#
# Recovery is counted against 90 % of the online learner's pre-shift
# served/oracle level (the others never learned before the shift); set
# VARIANTS="off publish_5min" and REFERENCE=<online before_shift> to rerun some.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
BUILD_DIR="${RTREC_BUILD_DIR:-build}"
SECONDS_TOTAL="${1:-480}"
SHIFT="${2:-240}"
WORK="$(mktemp -d)"
source bench/server_lib.sh

config() {  # config LEARNER_BLOCK
  cat <<YAML
server:
  listen_address: "127.0.0.1:0"
  metrics_address: ""
catalog:
  path: "$ROOT/data/demo_catalog.jsonl"
text_tower:
  vocab_path: "$ROOT/data/bert-base-uncased-vocab.txt"
  hidden_size: 32
  num_layers: 1
  num_heads: 2
  intermediate_size: 64
  max_seq_length: 32
model:
  embedding_dim: 32
  num_layers: 1
  num_heads: 2
  ffn_dim: 64
users:
  history_length: 10
impressions:
  reward_wait_ms: 5000
learner:
  learning_rate: 0.003
  next_item_loss_weight: 2.0
$1
tuner:
  enabled: false
YAML
}

VARIANTS="${VARIANTS:-online off publish_5min}"
REFERENCE="${REFERENCE:--1}"

run() {  # run LABEL LEARNER_BLOCK
  case " $VARIANTS " in *" $1 "*) ;; *) return 0 ;; esac
  start_server "$1" "$(config "$2")"
  "$BUILD_DIR/rtrec-sim" --target "127.0.0.1:$PORT" --seconds "$SECONDS_TOTAL" --shift_at_s "$SHIFT" \
    --rate 400 --concurrency 6 --window_s 10 --recover_to "$REFERENCE" \
    --csv "$WORK/$1.csv" --summary "$WORK/$1.summary" > "$WORK/$1.out"
  stop_server
  echo "== $1"
  cat "$WORK/$1.summary"
  if [ "$1" = online ]; then REFERENCE="$(sed -n 's/^before_shift=//p' "$WORK/online.summary")"; fi
}

run online "  publish_every: 20
  publish_interval_ms: 2000"
run off "  enabled: false"
run publish_5min "  publish_every: 100000000
  publish_interval_ms: 300000"
mkdir -p "$BUILD_DIR/bench"
cp "$WORK"/*.csv "$WORK"/*.summary "$BUILD_DIR/bench/"
echo "per-window CSVs in $BUILD_DIR/bench/{online,off,publish_5min}.csv"
