#!/usr/bin/env bash
# Builds rtrec with AddressSanitizer and with ThreadSanitizer and runs the
# concurrency tests (every test whose suite name contains "Concurrency")
# under each. Part of tools/test.sh; run alone after tools/setup.sh.
#
# ASan runs them all, the gRPC loopback ones included. TSan runs the ones
# that do not go through gRPC: Debian's gRPC, Abseil and LibTorch are not
# instrumented, so TSan cannot see the synchronisation inside gRPC's
# completion queues, and every hand-off through them would be reported.
# rtrec's own locks are visible to TSan (common/mutex.h). For the same reason
# TSan skips the tests that write through RocksDB from many threads
# ("StoreConcurrency"): Debian's RocksDB is not instrumented, and its write
# group hands the log buffer between threads through atomics TSan cannot see.
# ASan runs them.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS="${RTREC_JOBS:-$(nproc)}"
# ccache needs a writable cache even where HOME is unset (CI, containers).
export CCACHE_DIR="${CCACHE_DIR:-${HOME:-/tmp}/.ccache}"

run_sanitized() {
  local sanitizer=$1 exclude=$2
  shift 2
  local dir=build-$sanitizer
  # -O1 -g1: line tables for the reports, a fraction of full debug info's build time.
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -g1" \
    -DRTREC_SANITIZE="$sanitizer" >/dev/null
  cmake --build "$dir" -j "$JOBS" --target "$@"
  # Suite names: "<Name>ConcurrencyTest.<case>".
  local args=(--test-dir "$dir" -R "ConcurrencyTest\\." --output-on-failure --timeout 900 --no-tests=error)
  if [ -n "$exclude" ]; then args+=(-E "$exclude"); fi
  ctest "${args[@]}"
}

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_init_order=1"
export LSAN_OPTIONS="suppressions=$ROOT/tools/sanitizers/lsan.supp:print_suppressions=0"
run_sanitized address "" rtrec_unit_tests rtrec_model_tests rtrec_server rtrec_integration_tests

export TSAN_OPTIONS="suppressions=$ROOT/tools/sanitizers/tsan.supp:halt_on_error=1:second_deadlock_stack=1:report_signal_unsafe=0"
run_sanitized thread "ServerConcurrency|StoreConcurrency" rtrec_unit_tests rtrec_model_tests
echo "sanitizers: concurrency tests clean under ASan and TSan"
