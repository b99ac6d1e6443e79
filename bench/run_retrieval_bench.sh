#!/usr/bin/env bash
# Large catalogs through the retrieval stage, in one run:
#  1. a synthetic catalog of ITEMS items (bench/make_catalog.py);
#  2. rtrec_server on it (learner off, retrieval.* defaults): start-up time to
#     SERVING, with the item vectors and the FAISS index built before it serves;
#  3. rtrec_load_generator at CONCURRENCY for SECONDS: Recommend/s and
#     latency percentiles (every slate followed by a click, so users have
#     histories and user vectors of their own);
#  4. a full re-index, triggered by upserting one item (reindex_interval_ms 0):
#     item vectors and index rebuilt off the request path, timed, and the
#     index's recall@100 against exact scoring measured on the user vectors of
#     the last 256 requests (rtrec_retrieval_recall_at_100).
#
#   bash bench/run_retrieval_bench.sh [items=1000000] [concurrency=32] [seconds=20]
#
# Environment: RETRIEVAL_PROBES / RETRIEVAL_CANDIDATES / RETRIEVAL_LISTS /
# RETRIEVAL_TRAIN_SAMPLE override retrieval.probes / candidates / lists /
# train_sample; MAX_BATCH_SIZE
# batcher.max_batch_size (default 8 here: through the retrieval stage most of
# a request's cost is its own, and a smaller batch bounds the wait behind
# it); STORE_DIR keeps the
# server's state (the encoded catalog) there, so a second run starts from
# the store instead of encoding the catalog again.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${RTREC_BUILD_DIR:-build}"
ITEMS="${1:-1000000}"
CONCURRENCY="${2:-32}"
SECONDS_PER_RUN="${3:-20}"
WORK="$(mktemp -d)"
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
source bench/server_lib.sh
START_TIMEOUT_S=1800

python3 bench/make_catalog.py "$ITEMS" "$WORK/catalog.jsonl"
RETRIEVAL_YAML="retrieval:
  reindex_interval_ms: 0"
[ -n "${RETRIEVAL_PROBES:-}" ] && RETRIEVAL_YAML="$RETRIEVAL_YAML
  probes: $RETRIEVAL_PROBES"
[ -n "${RETRIEVAL_CANDIDATES:-}" ] && RETRIEVAL_YAML="$RETRIEVAL_YAML
  candidates: $RETRIEVAL_CANDIDATES"
[ -n "${RETRIEVAL_LISTS:-}" ] && RETRIEVAL_YAML="$RETRIEVAL_YAML
  lists: $RETRIEVAL_LISTS"
[ -n "${RETRIEVAL_TRAIN_SAMPLE:-}" ] && RETRIEVAL_YAML="$RETRIEVAL_YAML
  train_sample: $RETRIEVAL_TRAIN_SAMPLE"
STORAGE_YAML=""
[ -n "${STORE_DIR:-}" ] && STORAGE_YAML="storage:
  path: \"$STORE_DIR\""
metrics_port() { sed -n 's/.*metrics on port \([0-9]*\).*/\1/p' "$WORK/large.log" | head -1; }
metric() { curl -s "http://127.0.0.1:$(metrics_port)/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

t0=$(date +%s.%N)
start_server large "server:
  listen_address: \"127.0.0.1:0\"
  metrics_address: \"127.0.0.1:0\"
catalog:
  path: \"$WORK/catalog.jsonl\"
  max_items: $((ITEMS + 1000))
$RETRIEVAL_YAML
$STORAGE_YAML
batcher:
  max_batch_size: ${MAX_BATCH_SIZE:-8}
  max_queue_size: 4096
learner:
  enabled: false
${BENCH_EXTRA_YAML:-}"
t1=$(date +%s.%N)
startup=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
grep -E "retrieval index|catalog of" "$WORK/large.log" | sed 's/^/  /' || true

"$BUILD_DIR/rtrec_load_generator" --target "127.0.0.1:$PORT" --concurrency "$CONCURRENCY" \
  --seconds "$SECONDS_PER_RUN" --warmup_seconds 5 --k 10 --feedback_share 1 --label large \
  | tee "$WORK/large.json"

# A full re-index: one upsert makes a new catalog version; with
# reindex_interval_ms 0 the indexer rebuilds vectors and index at once.
builds=$(metric rtrec_retrieval_index_builds_total)
"$BUILD_DIR/rtrec-cli" --target "127.0.0.1:$PORT" upsert --item_id bench-new-item \
  --title "portable tea kettle" --text "A portable tea kettle for hiking." > /dev/null
for _ in $(seq 1 1200); do
  [ "$(metric rtrec_retrieval_index_builds_total)" != "$builds" ] && break
  sleep 0.5
done
reindex=$(metric rtrec_retrieval_index_build_seconds)
vectors=$(metric rtrec_retrieval_item_vector_build_seconds)
recall=$(metric rtrec_retrieval_recall_at_100)
lists=$(metric rtrec_retrieval_index_lists)
rss=$(awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$PID/status")
stop_server

qps=$(field large qps); p50=$(field large p50_ms); p99=$(field large p99_ms); errors=$(field large errors)
echo
echo "| $ITEMS items, retrieval stage, concurrency $CONCURRENCY, k = 10, max_batch_size ${MAX_BATCH_SIZE:-8} | value |"
echo "|---|---|"
echo "| Recommend/s | $qps |"
echo "| p50 / p99 latency | $p50 / $p99 ms |"
echo "| errors | ${errors:-0} |"
echo "| start-up to SERVING (catalog encoded, item vectors, index) | $startup s |"
echo "| full re-index: item vectors + index | $vectors s + $reindex s |"
echo "| recall@100 of the index vs exact scoring (last 256 requests; $lists lists, ${RETRIEVAL_PROBES:-64} probes, ${RETRIEVAL_CANDIDATES:-300} candidates) | $recall |"
echo "| server resident memory | $rss MiB |"
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); ${SECONDS_PER_RUN}s measured"
