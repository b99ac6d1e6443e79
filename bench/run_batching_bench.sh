#!/usr/bin/env bash
# Batched vs unbatched serving, side by side in one run: starts rtrec_server on
# the demo catalog twice with the same model, once with batching
# (batcher.max_batch_size 32) and once without (max_batch_size 1), drives each
# with rtrec_load_generator at the same concurrency, and prints both results
# and their ratio as Markdown for bench/RESULTS.md.
#
#   bash bench/run_batching_bench.sh [concurrency=32] [seconds=10] [query text]
#
# With a query every request also runs the BERT text tower on it (batched
# with the other queries of its batch). BENCH_EXTRA_YAML is appended to both
# configs, e.g. a text_tower section for the BERT-mini shape:
#   BENCH_EXTRA_YAML=$'text_tower:\n  hidden_size: 256\n  num_layers: 4\n  num_heads: 4\n  intermediate_size: 1024'

set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${RTREC_BUILD_DIR:-build}"
CONCURRENCY="${1:-32}"
SECONDS_PER_RUN="${2:-10}"
QUERY="${3:-}"
WORK="$(mktemp -d)"
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT

source bench/server_lib.sh

batching_server() {  # label max_batch_size [max_queue_delay_us]
  local label="$1" size="$2" delay="${3:-2000}"
  start_server "$label" "server:
  listen_address: \"127.0.0.1:0\"
  metrics_address: \"\"
catalog:
  path: \"$PWD/data/demo_catalog.jsonl\"
batcher:
  max_batch_size: $size
  max_queue_delay_us: $delay
  max_queue_size: 4096
  num_threads: 2
learner:
  enabled: false
${BENCH_EXTRA_YAML:-}"
}

run_one() {  # label max_batch_size
  local label="$1"
  batching_server "$1" "$2"
  local port=$PORT
  "$BUILD_DIR/rtrec_load_generator" --target "127.0.0.1:$port" --concurrency "$CONCURRENCY" \
    --seconds "$SECONDS_PER_RUN" --label "$label" --query "$QUERY" | tee "$WORK/$label.json" || true
  stop_server
}

run_one batched 32
run_one unbatched 1

# The latency a query adds: one client at a time, same server, with and
# without a query (the query runs through BERT and enters the user tower).
# No queue delay here, so a lone request does not wait for company.
batching_server latency 32 0
"$BUILD_DIR/rtrec_load_generator" --target "127.0.0.1:$PORT" --concurrency 1 \
  --seconds "$SECONDS_PER_RUN" --label no_query --warmup_seconds 2 > "$WORK/no_query.json" || true
"$BUILD_DIR/rtrec_load_generator" --target "127.0.0.1:$PORT" --concurrency 1 \
  --seconds "$SECONDS_PER_RUN" --label with_query --warmup_seconds 2 --query "lightweight trail running shoes for rainy days" \
  > "$WORK/with_query.json" || true
stop_server
qb=$(field batched qps); qu=$(field unbatched qps)
pb=$(field batched p50_ms); pu=$(field unbatched p50_ms)
b99=$(field batched p99_ms); u99=$(field unbatched p99_ms)
echo
echo "| setting | QPS | p50 ms | p99 ms |"
echo "|---|---|---|---|"
echo "| batched (max_batch_size 32) | $qb | $pb | $b99 |"
echo "| unbatched (max_batch_size 1) | $qu | $pu | $u99 |"
awk -v a="$qb" -v b="$qu" -v c="$pb" -v d="$pu" -v e="$b99" -v f="$u99" \
  'BEGIN { printf "| ratio batched/unbatched | %.2fx | %.2fx | %.2fx |\n", a/b, c/d, e/f }'
nq=$(field no_query p50_ms); wq=$(field with_query p50_ms)
echo
echo "| single client | p50 ms |"
echo "|---|---|"
echo "| Recommend without query | $nq |"
echo "| Recommend with a 9-word query | $wq |"
awk -v a="$wq" -v b="$nq" 'BEGIN { printf "| added by the query | %.2f ms |\n", a-b }'
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); concurrency $CONCURRENCY; ${SECONDS_PER_RUN}s per setting; query '${QUERY}'"
