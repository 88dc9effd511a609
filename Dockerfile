# The daemon in a container: same install as `make install`, database on a volume, non-root user.
#   docker build -t monitor .
#   docker run -d --name monitor --stop-timeout 60 -v monitor-data:/data -p 127.0.0.1:9100:9100 monitor
#   docker exec monitor monitor feeds
# --stop-timeout: on SIGTERM the daemon lets polls in flight finish for settings.shutdown_grace (20 s by
# default) and then releases its leases; Docker's default of 10 s would kill it half-way (compose:
# stop_grace_period: 60s).
# /healthz and /metrics are served on port 9100 of every interface of the container (MONITOR_LISTEN), so
# that Prometheus can scrape it; publish the port only where it should be reachable.
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
    MONITOR_DATABASE_URL=sqlite:////data/monitor.db \
    MONITOR_LISTEN=0.0.0.0:9100

VOLUME ["/data"]
USER monitor
STOPSIGNAL SIGTERM
EXPOSE 9100
# /healthz answers 503 when the scheduler stopped ticking or the database does not answer (no curl here:
# Python's urllib, which raises, and so exits non-zero, on any answer but 200).
HEALTHCHECK --interval=30s --timeout=10s --start-period=2m --retries=3 CMD ["python", "-c", "import urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:9100/healthz', timeout=8)"]
ENTRYPOINT ["monitor"]
CMD ["run"]
