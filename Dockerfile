# platform-monitor service image. Build: docker build -t platform-monitor .
# Run:  docker run -p 8080:8080 \
#         -v "$PWD/config.yaml:/etc/platform-monitor/config.yaml:ro" \
#         -v platform-monitor-data:/var/lib/platform-monitor platform-monitor
# The service takes its listen address from the config's `server:` block: in a container it must bind
# all interfaces, `server: {host: 0.0.0.0, port: 8080}`, or neither -p nor the HEALTHCHECK reach it.
# An embedded SQLite database belongs under /var/lib/platform-monitor (the volume), e.g.
# `storage: {url: "sqlite:////var/lib/platform-monitor/monitor.db"}`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed numeric uid/gid, so that Kubernetes' runAsNonRoot can check it and volumes can be chowned to it.
RUN groupadd --system --gid 10001 monitor \
    && useradd --system --uid 10001 --gid monitor --no-create-home \
        --home-dir /var/lib/platform-monitor --shell /usr/sbin/nologin monitor \
    && install -d -o monitor -g monitor -m 0750 /var/lib/platform-monitor \
    && install -d -m 0755 /etc/platform-monitor

# Only what the wheel is built from (README.md* copies the README when there is one).
COPY pyproject.toml README.md* /tmp/src/
COPY monitor /tmp/src/monitor
COPY probes /tmp/src/probes
COPY storage /tmp/src/storage
COPY dashboards /tmp/src/dashboards
RUN pip install "/tmp/src[postgres,mysql]" && rm -rf /tmp/src

ENV PM_CONFIG=/etc/platform-monitor/config.yaml
VOLUME ["/var/lib/platform-monitor"]
WORKDIR /var/lib/platform-monitor
USER 10001:10001
EXPOSE 8080

# No curl in slim images: ask /healthz with the standard library (urlopen raises on a non-2xx answer).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

CMD ["platform-monitor", "serve", "--config", "/etc/platform-monitor/config.yaml"]
