#!/usr/bin/env bash
# Offline evaluation figures (bench/RESULTS.md, "Offline evaluation"):
# Open Bandit progressive validation on both campaigns with learning on and
# off, and the MovieLens-format sample's NDCG@10 against popularity.
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
