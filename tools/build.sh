#!/usr/bin/env bash
# Configures and builds rtrec into ./build (Release, ccache when present).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${RTREC_BUILD_DIR:-build}"
JOBS="${RTREC_JOBS:-$(nproc)}"
# ccache needs a writable cache even where HOME is unset (CI, containers).
export CCACHE_DIR="${CCACHE_DIR:-${HOME:-/tmp}/.ccache}"
# RTREC_CMAKE_ARGS: extra configure arguments (e.g. -DRTREC_GIT_REVISION=...).
# shellcheck disable=SC2086
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${RTREC_BUILD_TYPE:-Release}" ${RTREC_CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" "$@"
