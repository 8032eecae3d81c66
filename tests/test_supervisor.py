"""`platform-monitor serve --workers N` as a user runs it: real supervisor and worker processes on
loopback ports, one SQLite file in tmp_path. Supervision only (ports, restarts, signals); how the
workers share the checks is the lease tests' business.

A worker's pid is read from the supervisor's own log line ("worker 1 started: pid 4242, port ...")
in its output file: what an operator would read too."""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from monitor.supervisor import EXIT_GAVE_UP, Backoff, Plan, Supervisor
from tests.targets import HttpTarget, wait_for

STARTED = re.compile(r"worker (\d+) started: pid (\d+), port (\d+), replica id (\S+)")
START_TIMEOUT = 30.0  # seconds for N workers to import, migrate and listen on a busy test machine
STOP_BOUND = 20.0  # seconds from SIGTERM to the supervisor's exit with every worker gone


def free_ports(count: int) -> int:
    """A first port P with P..P+count-1 all free on 127.0.0.1 a moment ago."""
    for _ in range(100):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            if port + count - 1 > 65535:
                continue
            others = [socket.socket() for _ in range(count - 1)]
            try:
                for i, sock in enumerate(others, start=1):
                    sock.bind(("127.0.0.1", port + i))
                return port
            except OSError:
                continue
            finally:
                for sock in others:
                    sock.close()
    raise AssertionError(f"no {count} consecutive free ports found")


def healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def alive(pid: int) -> bool:
    """Whether `pid` still runs (a zombie does not: it is only waiting for its parent's wait)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


class Run:
    """`python -m monitor serve ARGS` started as a user would, its output in a file."""

    def __init__(self, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.output = tmp_path / "serve.log"
        with self.output.open("wb") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "monitor", "serve", *args], stdout=out,
                                            stderr=subprocess.STDOUT, cwd=tmp_path, env=env)

    def log(self) -> str:
        return self.output.read_text(errors="replace")

    def workers(self) -> dict[int, int]:
        """Each worker's latest pid, from the supervisor's "worker i started" lines."""
        return {int(m[1]): int(m[2]) for m in STARTED.finditer(self.log())}

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=STOP_BOUND)


@pytest.fixture
def target():
    server = HttpTarget()
    yield server
    server.close()


@pytest.fixture
def config(target, tmp_path) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(f"""
server: {{host: 127.0.0.1, port: 9}}
storage: {{url: "sqlite:///{tmp_path / 'pm.db'}"}}
defaults: {{interval: 500ms, timeout: 500ms}}
engine: {{replica_id: test-node}}
checks:
  - {{name: web, component: paas, kind: http, url: "{target.url}/"}}
  - {{name: port, component: paas, kind: tcp, host: 127.0.0.1, port: {target.port}}}
""")
    return path


@pytest.fixture
def serve(tmp_path):
    runs: list[Run] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Run:
        runs.append(Run(tmp_path, *args, env=env))
        return runs[-1]

    yield start
    for run in runs:
        if run.process.poll() is None:
            run.process.kill()
            run.process.wait(timeout=STOP_BOUND)


def test_each_worker_listens_on_its_port_and_a_killed_one_is_back_within_seconds(serve, config):
    port = free_ports(2)
    run = serve("--workers", "2", "--config", str(config), "--port", str(port))
    wait_for(lambda: healthy(port) and healthy(port + 1), timeout=START_TIMEOUT, what="both workers on /healthz")
    started = {int(m[1]): (int(m[3]), m[4]) for m in STARTED.finditer(run.log())}
    assert started == {0: (port, "test-node-w0"), 1: (port + 1, "test-node-w1")}

    before = run.workers()
    victim = before[1]
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()
    wait_for(lambda: run.workers()[1] != victim, timeout=3, what="worker 1 started again")
    assert f"worker 1 (pid {victim}, port {port + 1}) ended with signal SIGKILL" in run.log()
    wait_for(lambda: healthy(port + 1), timeout=START_TIMEOUT, what="the new worker 1 on /healthz")
    assert time.monotonic() - killed < 15
    assert alive(run.workers()[1]) and not alive(victim)
    assert run.workers()[0] == before[0] and healthy(port), "worker 0 went on serving, untouched"
    assert run.stop() == 0


def test_sighup_reaches_every_worker_and_sigterm_stops_them_all_in_bounded_time(serve, config):
    port = free_ports(3)
    run = serve("--workers", "3", "--config", str(config), "--port", str(port))
    wait_for(lambda: all(healthy(port + i) for i in range(3)), timeout=START_TIMEOUT, what="three workers")
    pids = run.workers()
    assert sorted(pids) == [0, 1, 2]

    run.process.send_signal(signal.SIGHUP)
    wait_for(lambda: run.log().count("SIGHUP: reloading") == 3, timeout=10, what="each worker reloading")
    # the supervisor logs after signalling, so a worker's line may come first
    wait_for(lambda: "SIGHUP: passed on to 3 workers" in run.log(), timeout=5, what="the supervisor's line")
    # the reload keeps each worker's --port and --replica-id: nothing "changed" that needs a restart
    wait_for(lambda: run.log().count("config applied") == 3, timeout=10, what="each reload applied")
    assert "restart the service to apply it" not in run.log()
    assert run.process.poll() is None and all(alive(pid) for pid in pids.values())

    stopping = time.monotonic()
    run.process.send_signal(signal.SIGTERM)
    assert run.process.wait(timeout=STOP_BOUND) == 0, run.log()[-3000:]
    assert time.monotonic() - stopping < STOP_BOUND
    assert not any(alive(pid) for pid in pids.values())
    assert run.log().count("Application shutdown complete") == 3
    assert "Traceback" not in run.log()


def test_a_worker_failing_at_start_is_retried_with_a_backoff_and_starts_once_it_can(serve, config):
    port = free_ports(2)
    with socket.socket() as squatter:  # another program holds worker 1's port
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port + 1))
        squatter.listen()
        run = serve("--workers", "2", "--config", str(config), "--port", str(port))
        wait_for(lambda: "quick exit 1 of 8 in a row; restarting in 1s" in run.log(), timeout=START_TIMEOUT,
                 what="the backoff log line")
        line = next(line for line in run.log().splitlines() if "quick exit 1 of 8" in line)
        # 3: uvicorn's STARTUP_FAILURE (the same number as the cli's EXIT_STUCK)
        assert re.search(rf"worker 1 \(pid \d+, port {port + 1}\) ended with exit status 3 after", line), line
        wait_for(lambda: healthy(port), timeout=START_TIMEOUT, what="worker 0, whatever worker 1 does")
    wait_for(lambda: healthy(port + 1), timeout=START_TIMEOUT + 4, what="worker 1 once its port is free")
    assert run.stop() == 0


def test_the_supervisor_gives_up_on_a_worker_that_keeps_failing_and_exits_non_zero(tmp_path, caplog):
    broken = tmp_path / "broken.yaml"
    broken.write_text("checks: [{name: x, kind: nope}]\n")  # each worker exits 2 at once
    plan = Plan(workers=2, port=free_ports(2), config_path=broken, replica_base="t")
    supervisor = Supervisor(plan, exit_wait=10, backoff=Backoff(first=0.1, maximum=0.2, give_up_after=3))
    with caplog.at_level(logging.INFO, logger="monitor.supervisor"):
        assert supervisor.run() == EXIT_GAVE_UP
    assert "ended with exit status 2" in caplog.text
    assert "quick exit 2 of 3 in a row; restarting in 0.2s" in caplog.text
    assert "3 quick exits in a row; giving up, stopping every worker" in caplog.text


def test_the_built_in_default_config_gives_every_worker_one_sqlite_file_and_one_address(serve, tmp_path):
    port = free_ports(2)
    env = {k: v for k, v in os.environ.items() if k not in ("PM_CONFIG", "PM_STORAGE_URL", "PM_PORT", "PM_HOST")}
    run = serve("--workers", "2", "--port", str(port), env={**env, "KUBECONFIG": "/dev/null"})
    wait_for(lambda: healthy(port) and healthy(port + 1), timeout=START_TIMEOUT, what="both workers")
    assert f"storage sqlite:///{tmp_path / 'platform-monitor.db'}" in run.log()
    for worker_port in (port, port + 1):
        check = httpx.get(f"http://127.0.0.1:{worker_port}/api/v1/checks/platform-monitor/healthz", timeout=5)
        assert check.status_code == 200, check.text
        assert f"127.0.0.1:{port}/healthz" in str(check.json()), "every worker watches the address users open"
    assert run.stop() == 0
    assert [p.name for p in tmp_path.glob("*.db")] == ["platform-monitor.db"]
    [written] = re.findall(r"default config, written to (\S+) ", run.log())
    assert not Path(written).parent.exists(), "the supervisor removes its run directory"


@pytest.mark.parametrize(("args", "message"), [
    (["--workers", "0"], "'0' is not a number of workers"),
    (["--workers", "two"], "'two' is not a number of workers"),
    (["--workers", "3", "--port", "65534"], "ports 65534..65536, which must lie within 1..65535"),
    (["--workers", "2", "--replica-id", "a b"], "--replica-id"),
])
def test_impossible_worker_settings_are_refused_with_the_reason(config, args, message):
    done = subprocess.run([sys.executable, "-m", "monitor", "serve", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr


def test_the_backoff_doubles_from_the_first_wait_up_to_its_maximum():
    backoff = Backoff()
    assert [backoff.delay(n) for n in range(8)] == [0, 1, 2, 4, 8, 16, 30, 30]
