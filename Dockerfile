# syntax=docker/dockerfile:1
# vaultgate's container image: built from this source tree (the package is not published),
# run as an unprivileged user, writing only to its data volume. See docs/DEPLOYMENT.md.
#
#   docker build -t vaultgate .
#   docker run --read-only --tmpfs /tmp -v vaultgate-data:/var/lib/vaultgate -p 8080:8080 vaultgate

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Stage 1: a wheel of this tree, installed with its dependencies into a virtual environment.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/vaultgate \
    && /opt/vaultgate/bin/pip wheel --no-deps --wheel-dir /wheels . \
    && /opt/vaultgate/bin/pip install /wheels/vaultgate-*.whl

# Stage 2: the runtime, with the venv only (no compiler, no pip cache, no source tree).
FROM ${PYTHON_IMAGE}
# A fixed uid/gid (10001), so files given to the container (secrets, volumes) can be owned by it.
RUN groupadd --system --gid 10001 vaultgate \
    && useradd --system --uid 10001 --gid vaultgate --home-dir /var/lib/vaultgate \
        --no-create-home --shell /usr/sbin/nologin vaultgate \
    && install -d -o vaultgate -g vaultgate -m 0700 /var/lib/vaultgate
COPY --from=build /opt/vaultgate /opt/vaultgate

# Nothing is written outside the data dir, so the root filesystem can be read-only:
# bytecode was compiled at install time and is not rewritten; tiktoken reads its BPE table
# from the package instead of copying it to a cache in /tmp.
ENV PATH=/opt/vaultgate/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TIKTOKEN_CACHE_DIR="" \
    HOME=/var/lib/vaultgate \
    VAULTGATE_DATA_DIR=/var/lib/vaultgate \
    VAULTGATE_PORT=8080
WORKDIR /var/lib/vaultgate
VOLUME ["/var/lib/vaultgate"]
USER 10001:10001
EXPOSE 8080

# Liveness from inside the container (slim images have no curl). Plain HTTP on VAULTGATE_PORT:
# with --tls-cert in the container, replace this check (docs/DEPLOYMENT.md, "Dockerfile").
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; url = 'http://127.0.0.1:%s/healthz' % os.environ.get('VAULTGATE_PORT', '8080'); sys.exit(0 if urllib.request.urlopen(url, timeout=4).status == 200 else 1)"]

ENTRYPOINT ["vaultgate"]
CMD ["serve", "--host", "0.0.0.0"]
