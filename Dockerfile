# platform-monitor service image; docs/deploy.md tells how to build, push and run it.
#   docker build -t REGISTRY/platform-monitor:VERSION .          (or podman build / buildah bud)
# Any base with Python 3.11+ and its venv module will do: --build-arg BASE_IMAGE=… (a mirror of
# python:3.11-slim, or Debian bookworm with python3 and python3-venv).
# Offline or air-gapped: put wheels for the base's own Python in wheels/ (docs/deploy.md: `pip wheel`);
# when wheels/ holds any, pip installs from there alone (--no-index) and reaches no index at all.
# RUN --mount needs BuildKit (Docker 23+, the default), podman or buildah.
# The service listens on 0.0.0.0 in the container ($PM_HOST below; `serve --host` or PM_HOST win
# over the config's server.host), port 8080 unless the config says otherwise.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/platform-monitor/bin:$PATH

# A fixed numeric uid/gid, so that Kubernetes' runAsNonRoot can check it and volumes can be chowned to it.
RUN groupadd --system --gid 10001 monitor \
    && useradd --system --uid 10001 --gid monitor --no-create-home \
        --home-dir /var/lib/platform-monitor --shell /usr/sbin/nologin monitor \
    && install -d -o monitor -g monitor -m 0750 /var/lib/platform-monitor \
    && install -d -m 0755 /etc/platform-monitor

# The dependencies first, in a layer of their own: rebuilt only when pyproject.toml or the wheelhouse
# change, not on every change of the code (a stub project made of pyproject.toml alone). wheels/ is
# mounted, not copied, so that no layer keeps it. A virtualenv: the same on python:3.11-slim and on a
# distribution's Python (which refuses a system-wide pip); setuptools stays, to install the code
# below without an index.
COPY pyproject.toml README.md* /tmp/stub/
RUN --mount=type=bind,source=wheels,target=/tmp/wheels \
    python3 -m venv /opt/platform-monitor \
    && if ls /tmp/wheels/*.whl >/dev/null 2>&1; then \
         set -- --no-index --find-links /tmp/wheels; echo "installing from the wheelhouse only"; \
       fi \
    && pip install "$@" "setuptools>=68" "/tmp/stub[postgres,mysql]" \
    && pip uninstall -y platform-monitor \
    && rm -rf /tmp/stub

# Then the code: only what the wheel is built from (README.md* copies the README when there is one).
COPY pyproject.toml README.md* /tmp/src/
COPY monitor /tmp/src/monitor
COPY probes /tmp/src/probes
COPY storage /tmp/src/storage
COPY dashboards /tmp/src/dashboards
RUN pip install --no-index --no-deps --no-build-isolation /tmp/src \
    && rm -rf /tmp/src \
    && platform-monitor --version

ENV PM_CONFIG=/etc/platform-monitor/config.yaml \
    PM_HOST=0.0.0.0
VOLUME ["/var/lib/platform-monitor"]
WORKDIR /var/lib/platform-monitor
USER 10001:10001
EXPOSE 8080

# No curl in slim images: ask /healthz with the standard library (urlopen raises on a non-2xx answer).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

CMD ["platform-monitor", "serve", "--config", "/etc/platform-monitor/config.yaml"]
