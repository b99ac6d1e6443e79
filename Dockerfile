# rtrec server image: Debian 12 packages, Release build, demo config.
FROM debian:bookworm-slim
WORKDIR /src
COPY tools/setup.sh tools/setup.sh
RUN bash tools/setup.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN bash tools/build.sh --target rtrec_server rtrec_simulator rtrec_load_generator
EXPOSE 50051 9464
# Liveness for orchestrators: the process answers on its gRPC port; readiness
# is the standard grpc.health.v1 service (SERVING once the model is loaded).
CMD ["/src/build/rtrec_server", "--config", "/src/config/default.yaml"]
