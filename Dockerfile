# TNTServe: tnt-server and tnt in a small Debian image.
#   docker build -t tntserve .
#   docker run -p 50051:50051 -p 50052:50052 -p 8080:8080 -v $PWD/models:/models tntserve
# Ports: 50051 the native protocol, 50052 standard gRPC, 8080 admin (/metrics, /healthz, /readyz).
# Build stage: the Swift toolchain the tests run with, Swift's stdlib linked statically.
FROM swift:6.3-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends libopenblas-dev libprotobuf-c-dev libpng-dev libturbojpeg0-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
RUN swift build -c release --static-swift-stdlib --traits GRPC --product tnt-server \
    && swift build -c release --static-swift-stdlib --traits GRPC --product tnt \
    && install -D -m 0755 .build/release/tnt-server /out/tnt-server \
    && install -D -m 0755 .build/release/tnt /out/tnt

# Runtime stage: only the shared libraries the binaries load (checked by tools/tests/test_dockerfile.py).
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libopenblas0-pthread libprotobuf-c1 libpng16-16 libturbojpeg0 libstdc++6 zlib1g \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 tnt \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin tnt \
    && mkdir -p /models
COPY --from=build /out/tnt-server /out/tnt /usr/local/bin/
# The engine splits each forward pass across its own threads and calls OpenBLAS single-threaded
# (docs/PERFORMANCE.md); this keeps OpenBLAS from starting a thread per core at load. The
# OpenBLAS kernel family is chosen by tnt-server for the CPU it starts on: do not name one.
ENV TNT_HOST=0.0.0.0 \
    TNT_PORT=50051 \
    TNT_GRPC_PORT=50052 \
    TNT_ADMIN_PORT=8080 \
    TNT_MODELS=/models \
    TNT_LOG_FORMAT=json \
    OPENBLAS_NUM_THREADS=1
VOLUME ["/models"]
EXPOSE 50051 50052 8080
USER 10001:10001
# The admin port's /readyz: it needs no token and no client certificate, whatever the RPC
# port requires (docs/SECURITY.md); TNT_ADMIN_TLS=true makes the probe speak TLS too.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["tnt", "ready", "--admin", "127.0.0.1:8080"]
ENTRYPOINT ["tnt-server"]
