# syntax=docker/dockerfile:1
# The image of one salesguard component, chosen by two build arguments: COMPONENT
# (customers, attendance, orders, commissions or gateway) and PORT, the port it listens
# on (50051-50054 for the gRPC services, 8000 for the gateway's HTTP).
#
# Build from the repository root, the uv workspace the images are built from:
#   docker build --build-arg COMPONENT=customers --build-arg PORT=50051 -t salesguard-customers .
# skaffold.yaml builds the five images so (an artifact each); `make images` builds them
# with podman against a base bootstrapped from Debian (PYTHON_IMAGE) and uv from PyPI
# (UV_IMAGE), as no registry is reachable there.
#
# An image holds one component, so `salesguard serve`, `salesguard migrate` and
# `salesguard healthcheck` need no name in it. Kubernetes probes the ports directly; the
# HEALTHCHECK below serves `docker run`/`podman run` and compose.
#
# Layers: the base, then the third-party dependencies of ALL five components (the same
# layer in every image: built once, stored once on a node that runs several), then the
# component's own packages (a few megabytes).

# Any Python 3.11 image whose interpreter sits at the same path in build and runtime.
ARG PYTHON_IMAGE=python:3.11-slim-trixie
# An image holding the uv binary at /uv.
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

# ── dependencies: every component's locked third-party packages, in /app/.venv
FROM ${PYTHON_IMAGE} AS dependencies
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# From the lock file and the members' pyproject.toml alone (uv checks the lock against
# them), so this layer is rebuilt only when the dependencies change.
COPY pyproject.toml uv.lock ./
COPY api/pyproject.toml api/
COPY shared/pyproject.toml shared/
COPY services/customers/pyproject.toml services/customers/
COPY services/attendance/pyproject.toml services/attendance/
COPY services/orders/pyproject.toml services/orders/
COPY services/commissions/pyproject.toml services/commissions/
COPY gateway/pyproject.toml gateway/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --all-packages --no-install-workspace --no-editable --no-dev

# ── build: the shared package and the component's, installed as wheels, then set apart
FROM dependencies AS build
# Every member's sources: these layers are the same for the five images; the sync picks one.
COPY api/src api/src
COPY shared/src shared/src
COPY services/customers/src services/customers/src
COPY services/attendance/src services/attendance/src
COPY services/orders/src services/orders/src
COPY services/commissions/src services/commissions/src
COPY gateway/src gateway/src
ARG COMPONENT
ARG PORT
# --inexact: add the two packages, keep the other components' dependencies (they are in
# the dependencies layer anyway). PORT must be the port the component listens on (what
# EXPOSE says). The two packages' files then move to /app/component, the layer the
# runtime stage lays over the dependencies.
RUN --mount=type=cache,target=/root/.cache/uv \
    case "$COMPONENT" in customers|attendance|orders|commissions|gateway) ;; \
        *) echo "build argument COMPONENT must be customers, attendance, orders, commissions or gateway, not '$COMPONENT'" >&2; exit 1 ;; \
    esac \
    && uv sync --locked --package "salesguard-$COMPONENT" --no-editable --no-dev --inexact \
    && listens="$(/app/.venv/bin/python -c 'import sys; from salesguard.settings import Settings; print(Settings().listen_address(sys.argv[1])[1])' "$COMPONENT")" \
    && { [ "$listens" = "$PORT" ] || { echo "build argument PORT is '$PORT', but $COMPONENT listens on $listens" >&2; exit 1; }; } \
    && site="$(/app/.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
    && mkdir -p "/app/component${site#/app/.venv}" /app/component/bin \
    && mv "$site"/salesguard* "/app/component${site#/app/.venv}/" \
    && mv /app/.venv/bin/salesguard /app/component/bin/

# ── runtime: the interpreter, the dependencies, the component; no uv, no sources, no caches
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 salesguard \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin salesguard
COPY --from=dependencies /app/.venv /app/.venv
COPY --from=build /app/component /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SALESGUARD_GRPC_HOST=0.0.0.0 \
    SALESGUARD_GATEWAY_HOST=0.0.0.0 \
    SALESGUARD_DATA_DIR=/tmp/salesguard
WORKDIR /app
USER 10001:10001
# Declared late: an ARG in scope is part of every later RUN's cache key, and the layers
# above must be the same in the five images.
ARG PORT
EXPOSE ${PORT}
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["salesguard", "healthcheck"]
ENTRYPOINT ["salesguard"]
CMD ["serve"]
