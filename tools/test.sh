#!/usr/bin/env bash
# The one test command: installs dependencies, builds, and runs the whole suite.
# This is exactly what .ci/run executes on a clean clone.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bash tools/build.sh
cd "${RTREC_BUILD_DIR:-build}"
ctest --output-on-failure --timeout 900
