# squant-server and squant-cli on Debian 12 (bookworm).
#
# Both stages install their packages with scripts/install-deps.sh from the
# same lists a developer machine uses (scripts/packages-build.txt,
# scripts/packages-runtime.txt): one source of truth.
#
# Build without a daemon (see scripts/build-image.sh):
#   buildah bud --isolation chroot --pull=never -t localhost/squant:dev .
# Run:
#   podman run --runtime runc -p 50051:50051 -p 9464:9464 localhost/squant:dev

FROM debian:bookworm AS build
ARG JOBS=2
COPY scripts/install-deps.sh scripts/packages-build.txt /src/scripts/
RUN /src/scripts/install-deps.sh build && rm -rf /var/lib/apt/lists/*
COPY . /src
# Only the two programs are built (not the tests): every executable lands in
# /build/bin whatever its folder, and is installed stripped.
RUN cmake -S /src -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_RUNTIME_OUTPUT_DIRECTORY=/build/bin \
 && ninja -C /build -j"$JOBS" bin/squant-server bin/squant-cli \
 && install -D -s -m 0755 -t /out/usr/local/bin \
      /build/bin/squant-server /build/bin/squant-cli

FROM debian:bookworm-slim
COPY scripts/install-deps.sh scripts/packages-runtime.txt /tmp/deps/
RUN /tmp/deps/install-deps.sh runtime \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /tmp/deps
COPY --from=build /out/ /
# A numeric non-root user (the distroless "nonroot" id), so that Kubernetes'
# runAsNonRoot can verify it without an /etc/passwd lookup.
USER 65532:65532
WORKDIR /tmp
# gRPC (grpc.health.v1 included) and Prometheus /metrics.
EXPOSE 50051 9464
ENTRYPOINT ["/usr/local/bin/squant-server"]
# Defaults suited to Kubernetes: JSON logs; ports, worker count (from the
# cgroup CPU limit) and shutdown grace are the server's own defaults.
# Kubernetes `args:` replace this list.
CMD ["--log_format=json"]
