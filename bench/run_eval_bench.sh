#!/usr/bin/env bash
# Offline evaluation figures (bench/RESULTS.md, "Offline evaluation"):
# Open Bandit progressive validation on both campaigns with learning on and
# off, and the MovieLens-format sample's NDCG@10 against popularity, in process
# (rtrec-eval) and through the API (rtrec_movielens_api against a server).
#
#   bash bench/run_eval_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${RTREC_BUILD_DIR:-build}"
for campaign in men women; do
  for learn in true false; do
    echo "== open-bandit $campaign, learning $learn"
    "$BUILD_DIR/rtrec-eval" open-bandit --campaign "$campaign" --learn="$learn"
  done
done
echo "== movielens sample"
"$BUILD_DIR/rtrec-eval" movielens --ratings tests/data/movielens_sample/ratings.dat \
  --movies tests/data/movielens_sample/movies.dat

# The same sample through the API: a server on the shipped defaults whose
# catalog is the sample's movies (same items, same order as rtrec-eval's),
# the training interactions streamed as organic events, then one greedy
# Recommend per user (bench/movielens_api.cc).
WORK="$(mktemp -d)"
source bench/server_lib.sh
ML=tests/data/movielens_sample
"$BUILD_DIR/rtrec_movielens_api" catalog --ratings "$ML/ratings.dat" --movies "$ML/movies.dat" \
  --out "$WORK/movies.jsonl"
start_server movielens "server:
  listen_address: \"127.0.0.1:0\"
  metrics_address: \"\"
catalog:
  path: \"$WORK/movies.jsonl\""
echo "== movielens sample through the API"
"$BUILD_DIR/rtrec_movielens_api" replay --target "127.0.0.1:$PORT" --ratings "$ML/ratings.dat" \
  --movies "$ML/movies.dat"
stop_server
rm -rf "$WORK"
