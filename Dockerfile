# One image for every process (worker, scheduler, migrate); the command picks the role.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY yoked_actors ./yoked_actors
RUN pip install . && useradd --system --uid 10001 yoked
USER yoked

# Production defaults; everything else comes from the environment (see README).
ENV YOKED_ENV=production LOG_FORMAT=json METRICS_PORT=9191
EXPOSE 9191
CMD ["yoked", "worker"]
