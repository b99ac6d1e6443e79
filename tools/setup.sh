#!/usr/bin/env bash
# Installs what rtrec needs from Debian 12 (bookworm) packages. Used by the
# README, .ci/run (through tools/test.sh) and the Dockerfile, so they can
# never disagree. Safe to run again: installed packages are skipped.
#
#   bash tools/setup.sh            build, test and demo (the default)
#   bash tools/setup.sh --build    build only (the Dockerfile's build stage)
#   bash tools/setup.sh --runtime  run the built binaries only (its runtime stage)
set -euo pipefail

RUNTIME_PACKAGES=(
  ca-certificates
  libtorch1.13 libgrpc++1.51 libprotobuf32 libabsl20220623
  libprometheus-cpp-core1.0 libyaml-cpp0.7
  # The embedded state store (storage/state_store.h).
  librocksdb7.8
  # The /metrics endpoint (server/metrics_http_server.h).
  libcpp-httplib0.11
  # Logging (common/logging.h).
  libspdlog1.10 libfmt9
  # Debian's libtorch links the generic libblas.so.3; without an optimised
  # BLAS it falls back to the netlib reference one, ~16x slower on matmul
  # (bench/RESULTS.md). The OpenMP build follows torch's intra-op threads.
  libopenblas0-openmp
  # The retrieval stage (model/retrieval_index.h) links FAISS statically;
  # at run time it needs LAPACK and OpenMP.
  liblapack3 libgomp1
)
BUILD_PACKAGES=(
  build-essential cmake ccache pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libtorch-dev libabsl-dev prometheus-cpp-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  librocksdb-dev zlib1g-dev
  # /metrics over cpp-httplib; TLS material checks with OpenSSL (server/tls.h).
  libcpp-httplib-dev libssl-dev
  libspdlog-dev
  # FAISS 1.7 for the retrieval stage of large catalogs (model/retrieval_index.h).
  libfaiss-dev
  libopenblas0-openmp
)
DEV_PACKAGES=(
  # The Prometheus integration test runs the real server and promtool checks
  # deploy/prometheus; `docker-compose config` validates deploy/; gnuplot
  # draws the demo's learning curve.
  prometheus docker-compose gnuplot-nox
  # The TLS tests make their certificates with openssl; tools/fuzz.sh builds
  # the libFuzzer target with clang 14 (libomp: FAISS links OpenMP, and
  # clang's is LLVM's).
  openssl clang-14 libclang-rt-14-dev libomp-dev
  # The client packages' tests (clients/): Python with Debian's gRPC, and
  # Node.js with npm (the packages' dependencies come from the npm registry).
  python3-grpcio python3-protobuf python3-venv python3-setuptools python3-yaml
  # deploy/k8s is checked against the Kubernetes API's types offline
  # (tests/deploy/validate_k8s_schema.py).
  python3-kubernetes
)
# Node.js and kubectl are taken as the machine has them when it does (a
# machine may carry newer ones than Debian's, which would conflict);
# otherwise Debian's.
if ! command -v node > /dev/null || ! command -v npm > /dev/null; then
  DEV_PACKAGES+=(nodejs npm)
fi
# deploy/k8s is checked with kubectl (tests/deploy/check_k8s.sh).
if ! command -v kubectl > /dev/null; then
  DEV_PACKAGES+=(kubernetes-client)
fi

case "${1:-}" in
  --runtime) PACKAGES=("${RUNTIME_PACKAGES[@]}") ;;
  --build) PACKAGES=("${BUILD_PACKAGES[@]}") ;;
  "") PACKAGES=("${BUILD_PACKAGES[@]}" "${DEV_PACKAGES[@]}") ;;
  *) echo "usage: $0 [--build|--runtime]" >&2; exit 2 ;;
esac

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "rtrec setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  # policy-rc.d 101: a package that ships a service (prometheus) must not try
  # to start it here; rtrec's tests start their own instance.
  if [ ! -e /usr/sbin/policy-rc.d ] && [ -z "$SUDO" ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "rtrec setup: all packages present"
fi
