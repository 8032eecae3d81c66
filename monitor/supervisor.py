"""`serve --workers N`: a supervisor that runs N plain `serve` processes of one config on ports
P..P+N-1, restarts a worker that dies and passes SIGTERM, SIGINT and SIGHUP on. It runs no engine
and opens no database: the workers share the config's database like any processes would."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import make_url

from monitor.defaults import default_config_text

__all__ = ["MAX_PORT", "Backoff", "Plan", "Supervisor", "default_replica_base", "run_dir", "supervise",
           "write_default_config"]

log = logging.getLogger(__name__)

MAX_PORT = 65535
EXIT_GAVE_UP = 4
"""The supervisor's exit status when a worker kept failing at start and it stopped them all."""
POLL_INTERVAL = 0.5  # seconds between looks at the workers when no signal wakes the supervisor sooner
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass(frozen=True)
class Backoff:
    """When a dead worker is started again. One that ran for `quick_exit` seconds or more is
    started at once; one that exits sooner keeps failing at start (its port taken, its database
    refused), so each such exit in a row doubles the wait from `first` up to `maximum`, and after
    `give_up_after` of them the supervisor stops every worker and exits EXIT_GAVE_UP."""

    quick_exit: float = 10.0
    first: float = 1.0
    maximum: float = 30.0
    give_up_after: int = 8

    def delay(self, quick_exits: int) -> float:
        """Seconds before the next start after `quick_exits` quick exits in a row (0: none)."""
        return 0.0 if quick_exits == 0 else min(self.first * 2 ** (quick_exits - 1), self.maximum)


@dataclass(frozen=True)
class Plan:
    """What to run: worker i is `serve --config config_path --port port+i --replica-id replica_base-w<i>`."""

    workers: int
    port: int
    config_path: Path
    replica_base: str
    host: str | None = None
    log_level: str = "info"

    def argv(self, index: int) -> list[str]:
        host = ["--host", self.host] if self.host is not None else []
        return [sys.executable, "-m", "monitor", "--log-level", self.log_level, "serve",
                "--config", str(self.config_path), *host, "--port", str(self.port + index),
                "--replica-id", self.replica_id(index)]

    def replica_id(self, index: int) -> str:
        return f"{self.replica_base}-w{index}"


def default_replica_base() -> str:
    """The workers' name base when the config names no engine.replica_id: "<hostname>-<pid>" of
    the supervisor, as a lone process would be named."""
    return f"{socket.gethostname()}-{os.getpid()}"


@contextlib.contextmanager
def run_dir() -> Iterator[Path]:
    """A private directory (0700) for the supervisor's files, removed when it exits."""
    path = Path(tempfile.mkdtemp(prefix="platform-monitor-workers-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def write_default_config(directory: Path, *, host: str, port: int) -> Path:
    """The built-in default config as a file the workers share, with its SQLite file made absolute
    (from $PM_STORAGE_URL or ./platform-monitor.db, as a lone `serve` would use): every worker
    writes into one database and probes the service at `port`, where users reach it."""
    url = make_url(os.environ.get("PM_STORAGE_URL") or "sqlite:///platform-monitor.db")
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        url = url.set(database=str(Path(url.database).resolve()))
    path = directory / "default-config.yaml"
    path.write_text(default_config_text(host, port, url.render_as_string(hide_password=False)), encoding="utf-8")
    log.info("no config file: the workers share the built-in default config, written to %s (storage %s)",
             path, url.render_as_string(hide_password=True))
    return path


def describe_exit(returncode: int) -> str:
    """`exit status 3` or `signal SIGKILL`, as an operator reads a worker's end."""
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-returncode).name}"
        return f"signal {-returncode}"
    return f"exit status {returncode}"


def _die_with(parent: int) -> Callable[[], None]:
    """A pre-exec hook: the worker gets SIGTERM when the supervisor dies (kill -9 included), so no
    orphan keeps a port the next supervisor needs. Linux only; elsewhere a no-op."""

    def hook() -> None:
        if sys.platform.startswith("linux"):
            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
            if os.getppid() != parent:  # it died before the prctl
                os._exit(1)

    return hook


@dataclass
class _Worker:
    index: int
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    quick_exits: int = 0
    start_at: float | None = 0.0  # monotonic time of the next start; None: not to be started


class Supervisor:
    """Runs the plan's workers until SIGTERM or SIGINT (forwarded, then waited for up to
    `exit_wait` seconds before SIGKILL) or until a worker keeps failing at start."""

    def __init__(self, plan: Plan, *, exit_wait: float, backoff: Backoff | None = None) -> None:
        self.plan = plan
        self.exit_wait = exit_wait
        self.backoff = backoff or Backoff()
        self.workers = [_Worker(i) for i in range(plan.workers)]

    def run(self) -> int:
        """Supervise until told to stop; the exit status: 0 when every worker stopped cleanly."""
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_write, False)
        previous = {sig: signal.signal(sig, _ignore) for sig in (*FORWARDED, signal.SIGCHLD)}
        previous_fd = signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
        try:
            return self._loop(wake_read)
        finally:
            signal.set_wakeup_fd(previous_fd)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(wake_read)
            os.close(wake_write)

    def _loop(self, wake: int) -> int:
        while True:
            self._start_due()
            ready, _, _ = select.select([wake], [], [], POLL_INTERVAL)
            for number in os.read(wake, 64) if ready else b"":
                if number == signal.SIGHUP:
                    self._forward(signal.SIGHUP)
                elif number in (signal.SIGTERM, signal.SIGINT):
                    log.info("%s: stopping %d workers", signal.Signals(number).name, len(self.workers))
                    return self._stop(signal.Signals(number), gave_up=False)
            for worker in self.workers:
                if self._reap(worker) == "gave up":
                    return self._stop(signal.SIGTERM, gave_up=True)

    def _start_due(self) -> None:
        now = time.monotonic()
        for worker in self.workers:
            if worker.process is None and worker.start_at is not None and now >= worker.start_at:
                self._start(worker)

    def _start(self, worker: _Worker) -> None:
        argv = self.plan.argv(worker.index)
        # its own process group: a terminal's Ctrl-C reaches the workers once, through the supervisor;
        # preexec_fn is safe here, the supervisor runs no other thread
        worker.process = subprocess.Popen(argv, process_group=0, preexec_fn=_die_with(os.getpid()))
        worker.started, worker.start_at = time.monotonic(), None
        log.info("worker %d started: pid %d, port %d, replica id %s", worker.index, worker.process.pid,
                 self.plan.port + worker.index, self.plan.replica_id(worker.index))

    def _reap(self, worker: _Worker) -> str | None:
        """Notice a worker's death and schedule its restart; "gave up" when it keeps failing."""
        if worker.process is None or (returncode := worker.process.poll()) is None:
            return None
        lived = time.monotonic() - worker.started
        worker.quick_exits = worker.quick_exits + 1 if lived < self.backoff.quick_exit else 0
        what = (f"worker {worker.index} (pid {worker.process.pid}, port {self.plan.port + worker.index}) "
                f"ended with {describe_exit(returncode)} after {lived:.1f}s")
        worker.process = None
        if worker.quick_exits >= self.backoff.give_up_after:
            log.error("%s: %d quick exits in a row; giving up, stopping every worker", what, worker.quick_exits)
            return "gave up"
        delay = self.backoff.delay(worker.quick_exits)
        if delay:
            log.error("%s: quick exit %d of %d in a row; restarting in %.3gs", what, worker.quick_exits,
                      self.backoff.give_up_after, delay)
        else:
            log.warning("%s; restarting it", what)
        worker.start_at = time.monotonic() + delay
        return None

    def _forward(self, sig: signal.Signals) -> None:
        running = [w.process for w in self.workers if w.process is not None and w.process.poll() is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(sig)
        if sig == signal.SIGHUP:
            log.info("SIGHUP: passed on to %d workers", len(running))

    def _stop(self, sig: signal.Signals, *, gave_up: bool) -> int:
        """Pass `sig` on, wait up to exit_wait for every worker, kill what is left."""
        for worker in self.workers:
            worker.start_at = None
        self._forward(sig)
        deadline = time.monotonic() + self.exit_wait
        statuses = {}
        for worker in self.workers:
            if worker.process is None:
                continue
            try:
                statuses[worker.index] = worker.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker %d (pid %d) still running %.0fs after %s: killing it", worker.index,
                          worker.process.pid, self.exit_wait, sig.name)
                worker.process.kill()
                statuses[worker.index] = worker.process.wait()
        unclean = {i: code for i, code in statuses.items() if code not in (0, -signal.SIGTERM, -signal.SIGINT)}
        for index, code in sorted(unclean.items()):
            log.error("worker %d stopped with %s", index, describe_exit(code))
        if gave_up:
            return EXIT_GAVE_UP
        return next((code for code in unclean.values() if code > 0), 1) if unclean else 0


def _ignore(signum: int, frame: object) -> None:
    """The handler of the signals the loop reads from its wake-up pipe instead."""


def supervise(plan: Plan, *, exit_wait: float) -> int:
    """Run `plan` until SIGTERM or SIGINT; the supervisor's exit status."""
    log.info("supervising %d workers on ports %d..%d (replica ids %s-w0..w%d), config %s", plan.workers,
             plan.port, plan.port + plan.workers - 1, plan.replica_base, plan.workers - 1, plan.config_path)
    return Supervisor(plan, exit_wait=exit_wait).run()
