# The offsetflow CLI for docker compose: producers and consumers are `offsetflow <command>`.
#
#   docker build -t offsetflow:local .                  # wheels built inside (needs PyPI)
#   pip wheel --wheel-dir build/docker-wheels . && \
#   docker build --build-arg WHEELS=build/docker-wheels -t offsetflow:local .   # from host-built wheels, offline
#
# BASE_IMAGE: any Debian-like image with Python 3.11+ (python3 -m venv) and useradd; the compose test uses a
# local Debian built with debootstrap. Host-built wheels must match its Python version.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ARG WHEELS=
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY . /src
RUN set -eu; \
    if [ -n "$WHEELS" ]; then cp -r "/src/$WHEELS" /wheels; \
    else python3 -m pip wheel --wheel-dir /wheels /src; fi; \
    python3 -m venv /opt/offsetflow; \
    /opt/offsetflow/bin/pip install --no-index --find-links /wheels offsetflow; \
    /opt/offsetflow/bin/offsetflow --help >/dev/null

FROM ${BASE_IMAGE}
COPY --from=build /opt/offsetflow /opt/offsetflow
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/offsetflow offsetflow \
    && mkdir -p /data/out && chown offsetflow:offsetflow /data/out
ENV PATH=/opt/offsetflow/bin:$PATH PYTHONUNBUFFERED=1
USER offsetflow
WORKDIR /home/offsetflow
VOLUME ["/data/out"]
# Healthy when the metrics endpoint answers, for consumers run with OFFSETFLOW_METRICS_PORT; other commands
# have no endpoint and count as healthy while they run.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request as u; p = os.environ.get('OFFSETFLOW_METRICS_PORT'); p and u.urlopen(f'http://127.0.0.1:{p}/metrics', timeout=4).read()"]
ENTRYPOINT ["offsetflow"]
CMD ["--help"]
