#!/usr/bin/env bash
# The main job: installs dependencies, builds, starts rtrec_server on the demo
# catalog (config/demo.yaml: the defaults with a 5 s reward wait) and drives
# it with the simulated user stream (rtrec_simulator), printing slates,
# click-through rate and model state as it learns. Ctrl-C stops both. DEMO_SECONDS bounds the simulation (default 120).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bash tools/build.sh
BUILD_DIR="${RTREC_BUILD_DIR:-build}"
"$BUILD_DIR/rtrec_server" --config config/demo.yaml &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null || true; wait $SERVER_PID 2>/dev/null || true' EXIT
"$BUILD_DIR/rtrec_simulator" --target 127.0.0.1:50051 --seconds "${DEMO_SECONDS:-120}" "$@"
