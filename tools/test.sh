#!/usr/bin/env bash
# The one test command: installs dependencies, builds, runs the whole suite,
# then builds rtrec with AddressSanitizer and ThreadSanitizer and runs the
# concurrency tests under each (tools/sanitize.sh), then fuzzes the service
# for 60 s (tools/fuzz.sh). This is exactly what .ci/run executes on a clean
# clone.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bash tools/build.sh
ctest --test-dir "${RTREC_BUILD_DIR:-build}" --output-on-failure --timeout 900 -j "$(nproc)"
bash tools/sanitize.sh
bash tools/fuzz.sh 60
