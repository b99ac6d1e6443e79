#!/usr/bin/env bash
# Installs everything rtrec needs to build, test and run, from Debian's packages.
# Used by the README, .ci/run (through tools/test.sh) and the Dockerfile, so the
# three can never disagree. Safe to run again: apt-get skips what is installed.
set -euo pipefail

PACKAGES=(
  build-essential cmake ccache pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libtorch-dev libabsl-dev prometheus-cpp-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # Debian's libtorch links the generic libblas.so.3; without an optimised
  # BLAS it falls back to the netlib reference one, ~16x slower on matmul
  # (bench/RESULTS.md). The OpenMP build follows torch's intra-op threads.
  libopenblas0-openmp
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "rtrec setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "rtrec setup: all packages present"
fi
