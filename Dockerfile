# syntax=docker/dockerfile:1
# Production image for Switchboard: `python -m bot serve` (API) or `python -m bot worker`.
# Backing services come from the environment (see docker-compose.yml and .env.prod).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: resolve the locked environment into /app/.venv ------------------------------
FROM ${PYTHON_IMAGE} AS build

ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

WORKDIR /app

# Dependencies first (cached layer while only the source changes).
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project

# Then the project itself.
COPY README.md ./
COPY bot ./bot
COPY channels ./channels
COPY config ./config
COPY operator_panel ./operator_panel
COPY rag ./rag
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev

# ---- runtime: no uv, no build tools, non-root --------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV APP_ENV=prod \
    DATA_DIR=/data \
    PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app \
    && mkdir -p /data \
    && chown app:app /data

WORKDIR /app
COPY --from=build --chown=app:app /app /app

USER app
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"]

CMD ["python", "-m", "bot", "serve", "--host", "0.0.0.0", "--port", "8000"]
