#!/usr/bin/env bash
# Builds the libFuzzer target (fuzz/service_fuzzer.cc) with clang 14,
# AddressSanitizer and libFuzzer's coverage, and runs it for SECONDS (default
# 60) on the seed corpus in fuzz/corpus. Exits non-zero on a finding (a crash,
# a sanitizer report, or a server that stops serving; the input is saved as
# build-fuzz/crash-*). Part of tools/test.sh; bench/run_fuzz_bench.sh runs it
# longer.
#
#   bash tools/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN="${1:-60}"
JOBS="${RTREC_JOBS:-$(nproc)}"
export CCACHE_DIR="${CCACHE_DIR:-${HOME:-/tmp}/.ccache}"
DIR=build-fuzz
CC=clang-14 CXX=clang++-14 cmake -S . -B "$DIR" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS_RELEASE="-O1 -g1" -DRTREC_SANITIZE=fuzzer >/dev/null
cmake --build "$DIR" -j "$JOBS" --target rtrec_service_fuzzer
# A fresh working corpus each run, seeded from the checked-in one.
rm -rf "$DIR/corpus" && mkdir -p "$DIR/corpus" && cp fuzz/corpus/* "$DIR/corpus/"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
cd "$DIR"
./rtrec_service_fuzzer -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -timeout=30 \
  -print_final_stats=1 corpus 2>&1 | tee fuzz.log |
  grep -E "^#[0-9]+ +(INITED|DONE)|^stat::|^==[0-9]+==ERROR|rtrec fuzz finding|^Done" || true
if grep -qE "ERROR: (libFuzzer|AddressSanitizer)|rtrec fuzz finding|deadly signal" fuzz.log; then
  echo "fuzz: FINDING, see $DIR/fuzz.log and $DIR/crash-*" >&2
  exit 1
fi
grep -E "^stat::number_of_executed_units" fuzz.log || { echo "fuzz: the fuzzer did not run" >&2; exit 1; }
echo "fuzz: ${SECONDS_TO_RUN} s without a finding"
