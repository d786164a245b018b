# Capstan's container image: one `capstan` binary on Debian bookworm slim,
# the Debian the project builds and is tested on (scripts/bootstrap).
#   docker build -t capstan .
#   docker run -p 5000:5000 -v capstan-data:/var/lib/capstan capstan
# The build stage also holds the whole `make install` tree under /out
# (libcapstan-infer's static and shared library, header and pkg-config file):
#   docker build --target build -t capstan-sdk .
# Every server option has a CAPSTAN_* variable (capstan server --help lists
# them), e.g. -e CAPSTAN_LOG_LEVEL=debug; `capstan serve` (serving only)
# needs CAPSTAN_REGISTRY=http://<server>:5000 and listens on CAPSTAN_PORT.

ARG DEBIAN_RELEASE=bookworm

FROM debian:${DEBIAN_RELEASE}-slim AS build
# The -dev packages of scripts/bootstrap --system, less the test-only ones
# (cmocka, wrk, prometheus, python).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        build-essential pkg-config libmicrohttpd-dev libcjson-dev libsqlite3-dev libssl-dev \
        libcurl4-openssl-dev libgsl-dev libzstd-dev libxxhash-dev libyaml-dev libsodium-dev \
        libpq-dev libexpat1-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# /out: everything `make install` puts down; /rt: the part the runtime
# stage takes (the binary, and the shared runtime for programs that embed
# it: the binary itself links the static library).
RUN make -j"$(nproc)" build/rel/capstan \
 && make install PREFIX=/usr/local DESTDIR=/out \
 && mkdir -p /rt/usr/local/lib \
 && cp -a /out/usr/local/bin /rt/usr/local/ \
 && cp -a /out/usr/local/lib/libcapstan-infer.so* /rt/usr/local/lib/

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# The shared libraries the binary links (tests/deploy/check_image_libs.sh
# checks this list against ldd of the built binary), ca-certificates for
# https registries and webhooks, curl for the HEALTHCHECK (about 0.5 MB: it
# shares libcurl4 with the binary).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        libmicrohttpd12 libcjson1 libsqlite3-0 libssl3 libcurl4 libgsl27 libgslcblas0 \
        libzstd1 libxxhash0 libyaml-0-2 libsodium23 libpq5 libexpat1 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
COPY --from=build /rt/ /
RUN ldconfig \
 && groupadd --gid 10001 capstan \
 && useradd --uid 10001 --gid capstan --home-dir /var/lib/capstan --no-create-home \
        --shell /usr/sbin/nologin capstan \
 && mkdir -p /var/lib/capstan \
 && chown capstan:capstan /var/lib/capstan

# Listen on every interface inside the container (the CLI's default is
# loopback); the database and artifacts go to the volume unless
# CAPSTAN_BACKEND_STORE_URI / CAPSTAN_ARTIFACTS_DESTINATION say otherwise.
ENV CAPSTAN_HOST=0.0.0.0 \
    CAPSTAN_PORT=5000 \
    CAPSTAN_DATA=/var/lib/capstan
VOLUME ["/var/lib/capstan"]
WORKDIR /var/lib/capstan
USER 10001:10001
EXPOSE 5000
# /health answers 200 from `capstan server` and from `capstan serve`.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS -o /dev/null "http://127.0.0.1:${CAPSTAN_PORT}/health" || exit 1
ENTRYPOINT ["capstan"]
CMD ["server"]
