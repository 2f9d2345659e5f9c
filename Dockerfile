# authflow container image.
#
#   docker build -t authflow:1.0.0 .            (or: buildah build -t ... .)
#   docker run --rm -p 8080:8080 \
#     -e AUTHFLOW_REDIS_URL=redis://redis:6379/0 \
#     -e AUTHFLOW_CRM_URL=https://crm.example.com \
#     -e AUTHFLOW_API_KEYS="$(openssl rand -hex 32)" \
#     authflow:1.0.0
#
# Configuration is by environment (AUTHFLOW_PORT, AUTHFLOW_REDIS_URL,
# AUTHFLOW_CRM_URL, AUTHFLOW_API_KEYS, AUTHFLOW_LOG_LEVEL) and, optionally, a
# JSON file mounted at /etc/authflow/config.json and named by
# AUTHFLOW_CONFIG=/etc/authflow/config.json. AUTHFLOW_CONFIG is deliberately
# not set here: a named file that is missing stops the service.
#
# The same image carries the reference CRM for demos and tests:
#   docker run --entrypoint authflow-demo-crm authflow:1.0.0 \
#     --bind 0.0.0.0 --port 8081 --customers /usr/share/authflow/customers.json

# ---------------------------------------------------------------- build stage
FROM debian:bookworm-slim AS build

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      cmake gcc libc6-dev make pkg-config \
      libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libhiredis-dev \
      libxlsxwriter-dev libhpdf-dev zlib1g-dev \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# Only what the service build reads, so edits to docs/tests/deploy do not
# invalidate this layer.
COPY CMakeLists.txt ./
COPY service/ ./service/
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DAUTHFLOW_TESTS=OFF \
 && cmake --build /build -j"$(nproc)" \
 && install -D -s -m 0755 /build/service/authflow /out/usr/local/bin/authflow \
 && install -D -s -m 0755 /build/service/demo-crm/authflow-demo-crm \
      /out/usr/local/bin/authflow-demo-crm \
 && /out/usr/local/bin/authflow --version

# -------------------------------------------------------------- runtime stage
FROM debian:bookworm-slim AS runtime

# Runtime libraries only: no compilers, no curl binary, no shell tools added.
# tzdata: the zone database reports read (reporting.timeZone, tz=);
# libxlsxwriter and libharu: the .xlsx and .pdf reports.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libmicrohttpd12 libcurl4 libjansson4 libhiredis0.14 ca-certificates \
      tzdata libxlsxwriter4 libhpdf-2.3.0 \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && groupadd --gid 10001 authflow \
 && useradd --uid 10001 --gid 10001 --no-create-home --no-log-init \
      --home-dir /nonexistent --shell /usr/sbin/nologin authflow \
 && install -d -m 0755 /etc/authflow /usr/share/authflow \
 && install -d -m 0700 -o 10001 -g 10001 /var/spool/authflow

COPY --from=build /out/usr/local/bin/ /usr/local/bin/
COPY deploy/local/customers.json /usr/share/authflow/customers.json

# Fail the build, not the deployment, when a shared library is missing.
RUN if ldd /usr/local/bin/authflow /usr/local/bin/authflow-demo-crm | grep 'not found'; then \
      echo "missing runtime libraries" >&2; exit 1; \
    fi \
 && authflow --version

LABEL org.opencontainers.image.title="authflow" \
      org.opencontainers.image.description="Caller identification and verification for Genesys Cloud IVRs" \
      org.opencontainers.image.version="1.0.0"

USER 10001:10001
EXPOSE 8080
STOPSIGNAL SIGTERM
# --healthcheck GETs http://127.0.0.1:$AUTHFLOW_PORT/healthz with libcurl
# (no curl binary in the image) and exits 0/1.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["authflow", "--healthcheck"]
ENTRYPOINT ["authflow"]
