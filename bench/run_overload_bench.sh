#!/usr/bin/env bash
# Serving under overload (issue 14), in one run: a catalog of ITEMS items
# (whole-catalog Recommend, ~25 ms each on 2 cores at 50,240 items), the
# learner off.
#  1. Capacity: closed-loop load at concurrency 4 with 10 s deadlines
#     (nothing refused): Recommend/s the server sustains.
#  2. Overload, admission off (batcher.deadline_admission false,
#     max_queued_per_client 0: the queue only drops what has expired):
#     IN_FLIGHT requests in flight with 1 s deadlines.
#  3. The same overload with deadline admission on (the default), the
#     clients waiting retry-after-ms after a refusal, as the hint asks.
#  4. The same, the clients retrying at once (ignoring the hint): what the
#     refusals themselves cost.
#  5. Fairness: one client (one token) keeps FLOOD requests in flight,
#     retrying at once, while a polite client (another token) sends one at a
#     time, 1 s deadlines; the polite client's success ratio with the
#     per-client bound and admission off and on (the queue's turns between
#     clients are always on). Goal ≥ 0.95.
# Goodput = answers within the deadline per second; goal ≥ 0.8 × capacity
# with the admitted p99 below the 1 s deadline.
#
#   bash bench/run_overload_bench.sh [items=50240] [in_flight=256] [seconds=30] [flood=512]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${RTREC_BUILD_DIR:-build}"
ITEMS="${1:-50240}"
IN_FLIGHT="${2:-256}"
SECONDS_PER_RUN="${3:-30}"
FLOOD="${4:-512}"
WORK="$(mktemp -d)"
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
source bench/server_lib.sh

# The demo catalog's items repeated with numbered ids until ITEMS.
python3 - "$ITEMS" "$WORK/catalog.jsonl" <<'PY'
import json, sys
n, out = int(sys.argv[1]), sys.argv[2]
base = [json.loads(l) for l in open("data/demo_catalog.jsonl")]
with open(out, "w") as f:
    for i in range(n):
        item = dict(base[i % len(base)])
        item["item_id"] = f"{item['item_id']}-{i}"
        item["title"] = f"{item['title']} {i}"
        f.write(json.dumps(item) + "\n")
PY

printf 'flood serve flood-token-0123456789abcdef\npolite serve polite-token-0123456789abcdef\n' > "$WORK/tokens"

config() {  # deadline_admission max_queued_per_client [tokens_file]
  echo "server:
  listen_address: \"127.0.0.1:0\"
  metrics_address: \"\"
  auth:
    tokens_file: \"${3:-}\"
catalog:
  path: \"$WORK/catalog.jsonl\"
  max_items: $((ITEMS + 1000))
learner:
  enabled: false
batcher:
  deadline_admission: $1
  max_queued_per_client: $2"
}

load() {  # label concurrency deadline_ms [extra flags]
  local label=$1 conc=$2 deadline=$3
  shift 3
  "$BUILD_DIR/rtrec_load_generator" --target "127.0.0.1:$PORT" --concurrency "$conc" \
    --seconds "$SECONDS_PER_RUN" --warmup_seconds 3 --deadline_ms "$deadline" \
    --label "$label" "$@" > "$WORK/$label.json" 2>/dev/null || true
  cat "$WORK/$label.json"
}

echo "== overload bench: $ITEMS items, $IN_FLIGHT in flight, 1 s deadlines, $(nproc) cores"
start_server off "$(config false 0)"
echo "start to SERVING with $ITEMS items: $(grep -c . "$WORK/catalog.jsonl") catalog lines"
load capacity 4 10000
load admission_off "$IN_FLIGHT" 1000 --honor_retry_after
stop_server
start_server on "$(config true 64)"
load admission_on "$IN_FLIGHT" 1000 --honor_retry_after
load admission_on_no_backoff "$IN_FLIGHT" 1000
stop_server

# Fairness: the flood runs a little longer than the polite client, around it.
fairness() {  # label deadline_admission max_queued_per_client
  start_server "$1" "$(config "$2" "$3" "$WORK/tokens")"
  "$BUILD_DIR/rtrec_load_generator" --target "127.0.0.1:$PORT" --concurrency "$FLOOD" \
    --seconds "$((SECONDS_PER_RUN + 4))" --warmup_seconds 1 --deadline_ms 1000 \
    --token flood-token-0123456789abcdef --label "$1_flood" > "$WORK/$1_flood.json" 2>/dev/null &
  local flood_pid=$!
  sleep 2
  load "$1_polite" 1 1000 --honor_retry_after --channels 1 --token polite-token-0123456789abcdef
  wait "$flood_pid" || true
  cat "$WORK/$1_flood.json"
  stop_server
}
fairness fairness_off false 0
fairness fairness_on true 64

CAP=$(field capacity qps)
OFF=$(field admission_off qps)
ON=$(field admission_on qps)
python3 - "$CAP" "$OFF" "$ON" "$(field admission_on p99_ms)" "$(field admission_off p99_ms)" \
  "$(field admission_on_no_backoff qps)" "$(field admission_on_no_backoff p99_ms)" <<'PY'
import sys
cap, off, on, p99_on, p99_off, nb, p99_nb = map(float, sys.argv[1:])
print(f"capacity {cap:.1f}/s; goodput admission off {off:.1f}/s = {off/cap:.2f} x capacity "
      f"(p99 of answered {p99_off:.0f} ms); admission on {on:.1f}/s = {on/cap:.2f} x capacity "
      f"(admitted p99 {p99_on:.0f} ms); goal >= 0.80 with p99 < 1000 ms: "
      f"{'MET' if on/cap >= 0.8 and p99_on < 1000 else 'NOT MET'}; clients ignoring the hint: "
      f"{nb:.1f}/s = {nb/cap:.2f} x capacity (p99 {p99_nb:.0f} ms)")
PY
echo "fairness: polite client's success with $FLOOD in flight from one flooding client:" \
  "off $(field fairness_off_polite success), on $(field fairness_on_polite success) (goal >= 0.95);" \
  "the flood's answers/s off $(field fairness_off_flood qps), on $(field fairness_on_flood qps)"
