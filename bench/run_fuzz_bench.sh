#!/usr/bin/env bash
# A longer fuzzing run of the service (tools/fuzz.sh; CI runs 60 s):
# prints the inputs executed, the corpus and coverage reached, and any
# finding.
#
#   bash bench/run_fuzz_bench.sh [seconds=600]
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/fuzz.sh "${1:-600}"
grep -E "^stat::|cov: " build-fuzz/fuzz.log | tail -8
