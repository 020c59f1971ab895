# One image for every process (worker, scheduler, relay, migrate); the command picks the role.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
# Dependencies first, from the lock file (uv pip compile, with hashes): editing the code does
# not reinstall numpy/scipy, and every build gets the same versions.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY yoked_actors ./yoked_actors
RUN pip install --no-deps . && useradd --system --uid 10001 yoked
USER yoked

# Deployment settings (YOKED_ENV, PUSH_PROVIDER, EXPO_ACCESS_TOKEN, the URLs) come from the
# deployment (fly.toml, docker-compose.yml): the image itself defaults to nothing production.
ENV LOG_FORMAT=json METRICS_PORT=9191
EXPOSE 9191
# The worker stops on SIGTERM, giving jobs WORKER_SHUTDOWN_GRACE_S to finish.
STOPSIGNAL SIGTERM
CMD ["yoked", "worker"]
