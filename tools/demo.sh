#!/usr/bin/env bash
# The main job: installs dependencies, builds, starts rtrec_server on the demo
# catalog (config/demo.yaml: the shipped defaults), and drives it for about a
# minute with rtrec-sim, reporting every shown slot at 300 slates/s: simulated
# users whose tastes drift and, at 60 % of the run, shift for the whole
# population. The
# learning curve (served vs oracle vs uniform random click rate) is printed
# per window as it happens and drawn to build/demo/learning_curve.png.
#
#   bash tools/demo.sh                 # DEMO_SECONDS=60 by default
#   DEMO_SECONDS=180 bash tools/demo.sh --rate 100   # extra flags go to rtrec-sim
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bash tools/build.sh --target rtrec_server rtrec-sim rtrec-cli
BUILD_DIR="${RTREC_BUILD_DIR:-build}"
OUT="$BUILD_DIR/demo"
mkdir -p "$OUT"
SECONDS_TOTAL="${DEMO_SECONDS:-60}"
SHIFT_AT=$(( SECONDS_TOTAL * 6 / 10 / 5 * 5 ))  # on a 5 s window boundary

"$BUILD_DIR/rtrec_server" --config config/demo.yaml > "$OUT/server.log" 2>&1 &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null || true; wait $SERVER_PID 2>/dev/null || true' EXIT
echo "demo: rtrec_server (pid $SERVER_PID) loading; log in $OUT/server.log"
for _ in $(seq 1 600); do
  if "$BUILD_DIR/rtrec-cli" --timeout_s 1 health > /dev/null 2>&1; then break; fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$OUT/server.log"; exit 1; fi
  sleep 0.2
done
"$BUILD_DIR/rtrec-cli" health
echo "demo: metrics at http://127.0.0.1:9464/metrics; rtrec-cli info shows the model state"

"$BUILD_DIR/rtrec-sim" --target 127.0.0.1:50051 --seconds "$SECONDS_TOTAL" --shift_at_s "$SHIFT_AT" \
  --rate 300 --concurrency 6 --csv "$OUT/learning_curve.csv" --summary "$OUT/summary.txt" "$@"

gnuplot -e "csv='$OUT/learning_curve.csv'; png='$OUT/learning_curve.png'; shift=$SHIFT_AT" \
  tools/learning_curve.gp
echo "demo: learning curve drawn to $OUT/learning_curve.png (data: $OUT/learning_curve.csv)"
