# One image for every role: the migration, the workers of each queue, the beat, the dashboard.
# docker-compose.yml picks the role with `command:`; alone, the image runs the embedded mode.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY workers ./workers
COPY celeryconfig.py ./
# /metrics is where docker-compose.yml mounts the shared metrics volume: a new volume takes
# this folder's owner, so the workers (user monitor) can write their samples into it.
RUN pip install . && useradd --create-home --uid 10001 monitor \
    && mkdir -p /var/lib/monitor /metrics && chown monitor /var/lib/monitor /metrics

# Watchlists and feeds.yaml are the operator's: mount them (see docker-compose.yml).
USER monitor
ENV MONITOR_VAR_DIR=/var/lib/monitor \
    MONITOR_DATABASE_URL=sqlite:////var/lib/monitor/monitor.db \
    MONITOR_BROKER_URL=sqla+sqlite:////var/lib/monitor/broker.db \
    MONITOR_DASHBOARD_HOST=0.0.0.0 \
    MONITOR_LOG_FORMAT=json
VOLUME ["/var/lib/monitor"]
EXPOSE 8080
CMD ["monitor", "run"]
