#!/usr/bin/env bash
# The durable state's figures for bench/RESULTS.md, in one run (issue 13):
#  1. Feedback throughput with the store on (group_commit, per_write) ÷ in
#     memory: rtrec_server on the demo catalog three times, the same
#     closed-loop load reporting every shown item of every slate
#     (rtrec_load_generator --report_every_shown), learner on.
#  2. Checkpoints under that load: a checkpoint after a publish every second
#     vs only at shutdown; Recommend p99 of each, and the write time.
#  3. Restart time vs state size: a store filled with USERS user histories and
#     IMPRESSIONS open impressions (rtrec_storage_fill) vs an empty one; time
#     from process start to SERVING, and RSS then.
#  4. Memory with a growing user table: USERS users written through
#     UserState with the store and users.max_cached_users 10,000 vs all in
#     memory without a store (rtrec_storage_fill, peak RSS); and requests from
#     USERS distinct users to the restarted server (histories read back from
#     the store), RSS after.
#
#   bash bench/run_storage_bench.sh [concurrency=16] [seconds=15] [users=1000000] [impressions=1000000]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${RTREC_BUILD_DIR:-build}"
CONCURRENCY="${1:-16}"
SECONDS_PER_RUN="${2:-15}"
USERS="${3:-1000000}"
IMPRESSIONS="${4:-1000000}"
WORK="$(mktemp -d)"
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
source bench/server_lib.sh

config() {  # storage_path sync checkpoint_interval_s max_cached_users
  echo "server:
  listen_address: \"127.0.0.1:0\"
  metrics_address: \"\"
catalog:
  path: \"$PWD/data/demo_catalog.jsonl\"
users:
  max_cached_users: ${4:-1000000}
storage:
  path: \"$1\"
  sync: ${2:-group_commit}
  checkpoint_interval_s: ${3:-60}"
}
rss_mb() { echo $(( $(ps -o rss= -p "$PID") / 1024 )); }

load() {  # label [extra flags]
  local label=$1
  shift
  "$BUILD_DIR/rtrec_load_generator" --target "127.0.0.1:$PORT" --concurrency "$CONCURRENCY" \
    --seconds "$SECONDS_PER_RUN" --warmup_seconds 2 --k 5 --label "$label" "$@" \
    | tee "$WORK/$label.json" || true
}

echo "== 1, 2: feedback throughput and checkpoints, $(nproc) cores"
start_server memory "$(config "")"
load memory --report_every_shown
stop_server
for sync in group_commit per_write; do
  rm -rf "$WORK/state-$sync"
  start_server "$sync" "$(config "$WORK/state-$sync" "$sync" 0)"
  load "$sync" --report_every_shown
  stop_server
done
rm -rf "$WORK/state-ckpt"
start_server checkpoint_1s "$(config "$WORK/state-ckpt" group_commit 1)"
load checkpoint_1s --report_every_shown
stop_server
ckpt_ms=$(sed -n 's/.*checkpoint of model v[0-9]* written to .* (\([0-9.]*\) MB, \([0-9]*\) ms).*/\2/p' \
  "$WORK/checkpoint_1s.log" | sort -n | awk '{a[NR]=$1} END {if (NR) printf "%s / %s", a[int((NR+1)/2)], a[NR]; else print "none"}')
ckpt_mb=$(sed -n 's/.*written to .* (\([0-9.]*\) MB.*/\1/p' "$WORK/checkpoint_1s.log" | tail -1)
ckpt_n=$(grep -c "written to" "$WORK/checkpoint_1s.log" || true)

echo "== 3: restart with $USERS users and $IMPRESSIONS open impressions"
"$BUILD_DIR/rtrec_storage_fill" --path "$WORK/state-big" --users "$USERS" --impressions "$IMPRESSIONS" \
  | tee "$WORK/fill.json"
"$BUILD_DIR/rtrec_storage_fill" --in_memory --max_cached_users "$((USERS * 2))" --users "$USERS" --impressions 0 \
  | tee "$WORK/fill_memory.json"
du -sh "$WORK/state-big" | tee "$WORK/du.txt"
t0=$(date +%s.%N); start_server restart_empty "$(config "$WORK/state-empty")"; t1=$(date +%s.%N)
empty_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}'); empty_rss=$(rss_mb); stop_server
t0=$(date +%s.%N); start_server restart_big "$(config "$WORK/state-big" group_commit 60 10000)"; t1=$(date +%s.%N)
big_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}'); big_rss=$(rss_mb)
echo "== 4: $USERS distinct users"
load users_cap_10k --users "$USERS"
cap_small_rss=$(rss_mb); stop_server
start_server restart_big_1m "$(config "$WORK/state-big" group_commit 60 1000000)"
big_1m_rss=$(rss_mb)
load users_cap_1m --users "$USERS"
cap_big_rss=$(rss_mb); stop_server

mem=$(field memory feedback_per_s); gc=$(field group_commit feedback_per_s); pw=$(field per_write feedback_per_s)
echo
echo "| feedback, concurrency $CONCURRENCY, every shown item reported | Feedback/s | ÷ memory | Feedback p50 / p99 ms | Recommend p99 ms |"
echo "|---|---|---|---|---|"
for l in memory group_commit per_write checkpoint_1s; do
  f=$(field $l feedback_per_s)
  echo "| $l | $f | $(awk -v a="$f" -v b="$mem" 'BEGIN{printf "%.2f", a/b}') | $(field $l feedback_p50_ms) / $(field $l feedback_p99_ms) | $(field $l p99_ms) |"
done
echo
echo "checkpoints during the checkpoint_1s run: $ckpt_n, $ckpt_mb MB each, write time p50 / max $ckpt_ms ms;"
echo "Recommend p99 with a checkpoint every second ÷ only at shutdown: $(awk -v a="$(field checkpoint_1s p99_ms)" -v b="$(field group_commit p99_ms)" 'BEGIN{printf "%.2f", a/b}')"
echo
echo "| start | to SERVING s | RSS at SERVING MB |"
echo "|---|---|---|"
echo "| empty store | $empty_s | $empty_rss |"
echo "| $USERS users, $IMPRESSIONS open impressions ($(cut -f1 "$WORK/du.txt")) | $big_s | $big_rss |"
echo
echo "| $USERS users (20-item histories, a taste for every tenth) | users in memory | peak RSS MB |"
echo "|---|---|---|"
echo "| store, users.max_cached_users 10,000 | $(sed -n 's/.*users_in_memory": \([0-9]*\).*/\1/p' "$WORK/fill.json") | $(sed -n 's/.*peak_rss_mb": \([0-9]*\).*/\1/p' "$WORK/fill.json") |"
echo "| no store, all in memory | $(sed -n 's/.*users_in_memory": \([0-9]*\).*/\1/p' "$WORK/fill_memory.json") | $(sed -n 's/.*peak_rss_mb": \([0-9]*\).*/\1/p' "$WORK/fill_memory.json") |"
echo
echo "| requests from $USERS distinct users | RSS after MB | requests |"
echo "|---|---|---|"
echo "| users.max_cached_users 10,000 (at SERVING $big_rss MB) | $cap_small_rss | $(field users_cap_10k requests) |"
echo "| users.max_cached_users 1,000,000 (at SERVING $big_1m_rss MB) | $cap_big_rss | $(field users_cap_1m requests) |"
