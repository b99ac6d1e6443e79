# rtrec server image: Debian 12 (bookworm), Release build, two stages.
#
#   docker build -t rtrec .                      # CPU, Debian's LibTorch 1.13
#   docker build -t rtrec-cuda --build-arg RTREC_TORCH=cuda .
#
# RTREC_TORCH=cuda builds against the official LibTorch CUDA build (cxx11
# ABI, CUDA 11.7, which bundles the CUDA runtime, cuBLAS and cuDNN) instead of
# Debian's CPU-only one; run it with `--gpus all` (NVIDIA container toolkit).
# UNTESTED: no GPU or Docker engine was available where rtrec was built; the
# CPU image's steps are the ones tools/setup.sh and tools/build.sh run in CI.
ARG RTREC_TORCH=debian
ARG LIBTORCH_CUDA_URL=https://download.pytorch.org/libtorch/cu117/libtorch-cxx11-abi-shared-with-deps-1.13.1%2Bcu117.zip

FROM debian:bookworm-slim AS build
ARG RTREC_TORCH
ARG LIBTORCH_CUDA_URL
# The context has no .git: pass the revision for --version and rtrec_build_info
# (docker build --build-arg RTREC_GIT_REVISION=$(git rev-parse --short=12 HEAD)).
ARG RTREC_GIT_REVISION=unknown
WORKDIR /src
# Dependencies first, then only what the build reads: an edit of the README,
# deploy/, clients/ or data/ does not rebuild (data/ is copied at the end).
COPY tools/setup.sh tools/setup.sh
RUN bash tools/setup.sh --build && rm -rf /var/lib/apt/lists/*
RUN if [ "$RTREC_TORCH" = cuda ]; then \
      apt-get update -qq && apt-get install -y -qq --no-install-recommends curl unzip ca-certificates && \
      curl -fsSL -o /tmp/libtorch.zip "$LIBTORCH_CUDA_URL" && unzip -q /tmp/libtorch.zip -d /opt && \
      rm /tmp/libtorch.zip; \
    else mkdir -p /opt/libtorch/lib; fi
COPY CMakeLists.txt ./
COPY cmake cmake
COPY proto proto
COPY common common
COPY config config
COPY model model
COPY state state
COPY storage storage
COPY learner learner
COPY serving serving
COPY server server
COPY tuner tuner
COPY sim sim
COPY eval eval
COPY tools tools
COPY bench bench
COPY fuzz fuzz
COPY tests tests
RUN if [ "$RTREC_TORCH" = cuda ]; then export CMAKE_PREFIX_PATH=/opt/libtorch; fi && \
    CCACHE_DISABLE=1 RTREC_CMAKE_ARGS="-DRTREC_GIT_REVISION=$RTREC_GIT_REVISION" \
    bash tools/build.sh --target rtrec_server rtrec-cli rtrec-sim

FROM debian:bookworm-slim AS runtime
ARG RTREC_TORCH
COPY tools/setup.sh /tmp/setup.sh
RUN bash /tmp/setup.sh --runtime && rm -rf /var/lib/apt/lists/* /tmp/setup.sh && \
    useradd --system --uid 10001 --home-dir /var/lib/rtrec --create-home rtrec && \
    mkdir -p /etc/rtrec /var/lib/rtrec/checkpoints /var/lib/rtrec/state && chown -R rtrec /var/lib/rtrec
# Empty for the Debian variant; the official LibTorch libraries for cuda.
COPY --from=build /opt/libtorch/lib /opt/libtorch/lib
ENV LD_LIBRARY_PATH=/opt/libtorch/lib
COPY --from=build /src/build/rtrec_server /src/build/rtrec-cli /src/build/rtrec-sim /usr/local/bin/
COPY data /usr/share/rtrec/data
COPY config/default.yaml config/demo.yaml /usr/share/rtrec/config/
# The shipped configs find the catalog at ../data (relative to the config).
COPY config/default.yaml /etc/rtrec/rtrec.yaml
RUN sed -i 's|"../data/|"/usr/share/rtrec/data/|' /etc/rtrec/rtrec.yaml /usr/share/rtrec/config/*.yaml

# /etc/rtrec: rtrec.yaml (mount your own); /var/lib/rtrec/checkpoints: BERT
# checkpoint folders for text_tower.checkpoint_dir; /var/lib/rtrec/state:
# the durable state (storage.path: the RocksDB store in store/, model
# checkpoints in checkpoints/). Keep it on a volume: without one a new
# container starts from nothing.
VOLUME ["/etc/rtrec", "/var/lib/rtrec/checkpoints", "/var/lib/rtrec/state"]
USER rtrec
WORKDIR /var/lib/rtrec
EXPOSE 50051 9464
# Healthy = the standard grpc.health.v1 service answers SERVING for
# rtrec.v1.Recommender (the model and catalog are loaded). Orchestrators can
# also probe HTTP GET :9464/healthz (live) and /readyz (ready).
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
  CMD ["rtrec-cli", "--target", "127.0.0.1:50051", "--timeout_s", "4", "--service", "rtrec.v1.Recommender", "health"]
ENTRYPOINT ["rtrec_server"]
CMD ["--config", "/etc/rtrec/rtrec.yaml", "--listen_address", "0.0.0.0:50051", "--metrics_address", "0.0.0.0:9464", \
     "--storage_path", "/var/lib/rtrec/state", "--log_json"]
