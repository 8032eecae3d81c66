"""The commonest config mistakes (issue 14): each is one message that names the file, the line and
the column and says how to fix it; all of a file's errors at once; `check --only` needs only its
checks' secrets; a missing database driver said in one line by `validate` and `serve`. Through the
real loader and, for most, the real command (`python -m monitor ...` as a child)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.config import ConfigError, load_config
from tests.peers import free_port


def cli(*args: str, env: dict[str, str] | None = None, pythonpath: str | None = None) -> subprocess.CompletedProcess:
    """`python -m monitor ARGS` with no PM_* variables but those given."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PM_") and k not in ("PAAS_TOKEN", "DB_PORT")}
    if pythonpath is not None:
        clean["PYTHONPATH"] = pythonpath
    return subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True, text=True, timeout=60,
                          env={**clean, **(env or {})})


def refused(path: Path, **env: str) -> str:
    """What load_config says of `path`, rendered as `validate` prints it."""
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env)
    return info.value.render()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pm.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_type_instead_of_kind_says_use_kind(tmp_path):
    path = write(tmp_path, """\
checks:
  - name: api
    component: paas
    type: http
    url: https://paas.example.com/healthz
""")
    done = cli("validate", str(path))
    assert done.returncode == 2
    assert done.stderr == (f"{path}: 1 error\n"
                           f"  {path}:4:5: checks[0] (paas/api).type: use `kind: http`, not `type: http`\n")


@pytest.mark.parametrize(("check", "error"), [
    ("{name: api, component: paas, kind: htpp, url: 'https://h/'}",
     "2:34: checks[0] (paas/api).kind: 'htpp' is not a kind of check: did you mean `http`?"),
    ("{name: api, component: paas, type: smtp, url: 'https://h/'}",
     "2:34: checks[0] (paas/api).type: use `kind:`, not `type:`; 'smtp' is not a kind of check: the kinds of "
     "check are dns, etcd, flow, heartbeat, http, k8s_apiserver, k8s_apiservers, k8s_coredns, k8s_cronjob, "
     "k8s_daemonsets, k8s_dns, k8s_healthz, k8s_kubelet, k8s_lease, k8s_node, k8s_readyz, k8s_resource, "
     "k8s_workload, mysql, node_exporter, postgres, redis, registry, registry_sync, tcp, tls"),
    ("{name: api, component: paas, url: 'https://h/'}",
     "2:5: checks[0] (paas/api): `kind:` is missing: the kinds of check are dns, etcd, flow, heartbeat, http, "
     "k8s_apiserver, k8s_apiservers, k8s_coredns, k8s_cronjob, k8s_daemonsets, k8s_dns, k8s_healthz, k8s_kubelet, "
     "k8s_lease, k8s_node, k8s_readyz, k8s_resource, k8s_workload, mysql, node_exporter, postgres, redis, registry, "
     "registry_sync, tcp, tls"),
    ("{name: cert, component: paas, kind: tls, host: h, port: 443, critical_dayz: 7}",
     "2:66: checks[0] (paas/cert).critical_dayz: unknown key: did you mean `critical_days`?"),
    ("{name: port, component: paas, kind: tcp, host: h, port: 443, colour: red}",
     "2:66: checks[0] (paas/port).colour: unknown key: the keys here are `component`, `depends_on`, `description`, "
     "`expect`, `expect_regex`, `failure_threshold`, `host`, `interval`, `kind`, `labels`, `location`, `locations`, "
     "`name`, `port`, `quorum`, `read_bytes`, `send`, `server_name`, `severity`, `success_threshold`, `timeout`, "
     "`tls`"),
])
def test_unknown_kinds_and_keys_get_the_nearest_valid_one(tmp_path, check, error):
    path = write(tmp_path, f"checks:\n  - {check}\n")
    assert refused(path) == f"{path}: 1 error\n  {path}:{error}"


def test_a_typo_in_a_section_gets_the_nearest_key(tmp_path):
    path = write(tmp_path, "servr: {port: 8080}\nstorage: {url: 'sqlite:///pm.db', batch_sise: 10}\n")
    assert refused(path) == (f"{path}: 2 errors\n"
                             f"  {path}:1:1: servr: unknown key: did you mean `server`?\n"
                             f"  {path}:2:35: storage.batch_sise: unknown key: did you mean `batch_size`?")


def test_a_bare_number_for_a_duration_is_refused_with_the_units_it_may_mean(tmp_path):
    path = write(tmp_path, """\
defaults: {interval: 30, timeout: 10s}
checks:
  - name: api
    component: paas
    kind: http
    url: https://paas.example.com/
    expect: {status: [200], max_latency: 800}
""")
    done = cli("validate", str(path))
    assert done.returncode == 2
    assert done.stderr == (
        f"{path}: 2 errors\n"
        f"  {path}:1:12: defaults.interval: 30: a duration needs a unit: 30ms, 30s\n"
        f"  {path}:7:29: checks[0] (paas/api).expect.max_latency: 800: a duration needs a unit: 800ms, 800s, 13m20s\n"
    )


def test_zero_needs_no_unit(tmp_path):
    path = write(tmp_path, "checks:\n  - {name: backup, component: jobs, kind: heartbeat, period: 1d, grace: 0,\n"
                           "     token: t0ken-backup-0123456789}\n")
    assert load_config(path, env={}).checks[0].grace == 0


@pytest.mark.parametrize(("written", "seconds"), [
    ("1m30s", 90), ("1h30m", 5400), ("2d12h", 216000), ("1.5s", 1.5), ("250ms", 0.25), ("1h1m1s", 3661),
    ("30s", 30), ("5m", 300), ("1d", 86400), ("30 s", 30),
])
def test_compound_durations_are_accepted(tmp_path, written, seconds):
    path = write(tmp_path, f"defaults: {{interval: '{written}', timeout: 100ms}}\n")
    assert load_config(path, env={}).defaults.interval == seconds


def test_an_error_in_defaults_is_said_once_at_defaults(tmp_path):
    checks = "".join(f"  - {{name: c{i}, component: x, kind: tcp, host: h, port: 1}}\n" for i in range(3))
    path = write(tmp_path, f"defaults:\n  interval: 5 parsecs\nchecks:\n{checks}")
    assert refused(path) == (f"{path}: 1 error\n  {path}:2:3: defaults.interval: '5 parsecs' is not a duration "
                             "(use e.g. 500ms, 30s, 5m, 1m30s, 1h or 1d)")


def test_unset_variables_are_reported_with_every_other_error(tmp_path):
    path = write(tmp_path, """\
server: {port: 8080, api_token: "${PM_API_TOKEN}"}
checks:
  - name: api
    component: paas
    kind: http
    url: https://paas.example.com/
    headers: {Authorization: "Bearer ${PAAS_TOKEN}"}
    intervall: 5s
  - {name: db, component: data, kind: tcp, host: db.example.com, port: "${DB_PORT}"}
""")
    done = cli("validate", str(path))
    assert done.returncode == 2
    # DB_PORT's empty value is not a port either: its own error says so, once
    assert done.stderr == (
        f"{path}: 4 errors\n"
        f"  {path}:1:22: server.api_token: environment variable PM_API_TOKEN is not set\n"
        f"  {path}:7:15: checks[0] (paas/api).headers.Authorization: environment variable PAAS_TOKEN is not set\n"
        f"  {path}:8:5: checks[0] (paas/api).intervall: unknown key: did you mean `interval`?\n"
        f"  {path}:9:66: checks[1] (data/db).port: environment variable DB_PORT is not set\n"
    )


ONLY = """\
server: {port: 8080, api_token: "${PM_API_TOKEN}"}
storage: {url: "${PM_STORAGE_URL}"}
alerts:
  receivers:
    - {name: chat, kind: slack, url: "${SLACK_URL}"}
checks:
  - {name: closed, component: paas, kind: tcp, host: 127.0.0.1, port: %d, depends_on: [paas/api]}
  - name: api
    component: paas
    kind: http
    url: https://paas.example.com/
    headers: {Authorization: "Bearer ${PAAS_TOKEN}"}
  - {name: db, component: data, kind: tcp, host: db.example.com, port: "${DB_PORT}"}
"""


def test_check_only_needs_only_the_secrets_of_its_checks(tmp_path):
    path = write(tmp_path, ONLY % free_port())
    done = cli("check", "--config", str(path), "--only", "paas/closed")
    assert done.returncode == 1, done.stderr  # ran: the port is closed
    assert done.stdout.splitlines()[1].split()[:2] == ["paas/closed", "down"]
    done = cli("check", "--config", str(path), "--only", "data/db", "--only", "paas/api")
    assert done.returncode == 2
    assert done.stderr == (
        f"{path}: 2 errors\n"
        f"  {path}:12:15: checks[1] (paas/api).headers.Authorization: environment variable PAAS_TOKEN is not set\n"
        f"  {path}:13:66: checks[2] (data/db).port: environment variable DB_PORT is not set\n"
    )


def test_the_whole_file_still_needs_every_secret(tmp_path):
    path = write(tmp_path, ONLY % 9)
    assert refused(path).startswith(f"{path}: 5 errors\n  {path}:1:22: server.api_token: environment variable ")


NO_PSYCOPG = "import sys\nsys.modules['psycopg'] = None  # as if the postgres extra were not installed\n"


def test_a_missing_postgres_driver_is_one_line_from_validate_and_serve(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(NO_PSYCOPG)
    path = write(tmp_path, f"server: {{host: 127.0.0.1, port: {free_port()}}}\n"
                           "storage: {url: 'postgresql+psycopg://pm:pw-secret@127.0.0.1/pm'}\n")
    expected = (f"{path}: 1 error\n  {path}:2:11: storage.url: the driver for postgresql+psycopg:// is not installed "
                f"(No module named 'psycopg'): install the postgres extra: {sys.executable} -m pip install "
                "'platform-monitor[postgres]'\n")
    for command in (["validate", str(path)], ["serve", "--config", str(path)]):
        done = cli(*command, pythonpath=str(site))
        assert (done.returncode, done.stderr, done.stdout) == (2, expected, ""), command
