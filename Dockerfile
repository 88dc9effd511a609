# The daemon in a container: same install as `make install`, database on a volume, non-root user.
#   docker build -t monitor .
#   docker run -d --name monitor -v monitor-data:/data monitor
#   docker exec monitor monitor feeds
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --system --create-home --uid 10001 monitor \
 && mkdir -p /data /etc/monitor \
 && chown monitor:monitor /data

WORKDIR /opt/monitor
COPY pyproject.toml README.md alembic.ini ./
COPY monitor ./monitor
COPY migrations ./migrations
RUN python -m venv /opt/monitor/.venv \
 && /opt/monitor/.venv/bin/pip install --quiet '.[postgres]'
COPY feeds.yaml /etc/monitor/feeds.yaml

ENV PATH=/opt/monitor/.venv/bin:$PATH \
    MONITOR_CONFIG=/etc/monitor/feeds.yaml \
    MONITOR_DATABASE_URL=sqlite:////data/monitor.db

VOLUME ["/data"]
USER monitor
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5m --timeout=30s CMD ["monitor", "db", "current"]
ENTRYPOINT ["monitor"]
CMD ["run"]
