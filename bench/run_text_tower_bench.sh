#!/usr/bin/env bash
# Text tower throughput with the BLAS that tools/setup.sh installs (OpenBLAS)
# and with Debian's netlib reference BLAS, side by side in one run.
#   bash bench/run_text_tower_bench.sh [threads=1]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${RTREC_BUILD_DIR:-build}"
THREADS="${1:-1}"
echo "== OpenBLAS (libopenblas0-openmp, as installed by tools/setup.sh)"
"$BUILD_DIR/rtrec_text_tower_bench" --threads "$THREADS"
if [ -e /usr/lib/x86_64-linux-gnu/blas/libblas.so.3 ]; then
  echo "== netlib reference BLAS (what Debian's libtorch uses without an optimised BLAS)"
  LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/blas "$BUILD_DIR/rtrec_text_tower_bench" \
    --threads "$THREADS" --catalog_copies 1 --query_runs 50
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
