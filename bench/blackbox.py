"""The reference side of bench/engine.py: Prometheus' blackbox_exporter probing the same target,
driven at a fixed rate by a load generator in its own process (wrk when installed, else the small
aiohttp client below), its CPU read from /proc. Loopback only; knows nothing of our engine.

    .venv/bin/python bench/blackbox.py --load URL --rate R --seconds S   (the fallback generator)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nginx_target import free_port, wait_for_port

EXPORTER = "prometheus-blackbox-exporter"
START_TIMEOUT = 10.0  # seconds for the exporter to listen
LOAD_CONNECTIONS = 16  # keep-alive connections from the load generator to the exporter
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

_CONFIG = "modules:\n  http_2xx:\n    prober: http\n    timeout: 10s\n"

# wrk: each connection waits `delay_ms` after a response before its next request, so the rate is
# about connections / (delay + latency). The latency moves with the machine's load, so once a
# second (os.time() is all wrk's Lua has) the delay is corrected towards the target rate.
# Targets vary per request as our checks' URLs do. `done` prints the counts as JSON.
_WRK_SCRIPT = """\
local n = 0
local delay_ms = {delay_ms}
local cycle_ms = {connections} * 1000 / {rate}
local second, sent, primed = os.time(), 0, false
request = function()
  n = n + 1
  return wrk.format("GET", "{prefix}" .. (n % {distinct}))
end
delay = function()
  sent = sent + 1
  local now = os.time()
  if now ~= second then
    if primed then  -- the first second is partial: only count from a whole one on
      local overhead = {connections} * 1000 * (now - second) / sent - delay_ms
      delay_ms = math.max(0, 0.5 * delay_ms + 0.5 * (cycle_ms - overhead))
    end
    second, sent, primed = now, 0, true
  end
  return math.floor(delay_ms + 0.5)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON{{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def proc_cpu_seconds(pid: int) -> tuple[float, float]:
    """(utime, stime) of every thread of `pid`, in seconds (from /proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": fields from #3 on
    return int(fields[11]) / _CLOCK_TICKS, int(fields[12]) / _CLOCK_TICKS  # fields #14, #15


def proc_peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MiB."""
    match = re.search(r"^VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(match.group(1)) / 1024 if match else float("nan")


def probe_url(exporter_port: int, target: str) -> str:
    query = urllib.parse.urlencode({"module": "http_2xx", "target": target})
    return f"http://127.0.0.1:{exporter_port}/probe?{query}"


def probe_success(exporter_port: int, target: str) -> bool:
    """One probe through the exporter; True when it reports `probe_success 1` (it answers 200
    even when the probe fails)."""
    with urllib.request.urlopen(probe_url(exporter_port, target), timeout=15) as response:
        return re.search(rb"^probe_success 1$", response.read(), re.M) is not None


@contextlib.contextmanager
def exporter(workdir: Path) -> Iterator[tuple[int, int]]:
    """Run blackbox_exporter with an `http_2xx` module; yield (pid, port); stop it by its PID."""
    if shutil.which(EXPORTER) is None:
        raise RuntimeError(f"{EXPORTER} is not installed (Debian package prometheus-blackbox-exporter)")
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "blackbox.yml"
    config.write_text(_CONFIG)
    port = free_port()
    log = (workdir / "exporter.log").open("w")
    proc = subprocess.Popen(
        [EXPORTER, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, START_TIMEOUT, proc)
        yield proc.pid, port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def target_prefix(exporter_port: int, target_port: int) -> str:
    """Path and query up to the varying `i` of the target URL `http://127.0.0.1:P/?i=<n>`."""
    target = urllib.parse.quote(f"http://127.0.0.1:{target_port}/?i=", safe="")
    return f"/probe?module=http_2xx&target={target}"


def run_wrk(
    workdir: Path,
    exporter_port: int,
    target_port: int,
    *,
    rate: float,
    delay_ms: float,
    seconds: float,
    distinct: int,
) -> dict[str, Any]:
    """One wrk run at a paced rate; returns its counts ("requests", "seconds", "errors")."""
    script = workdir / "pace.lua"
    script.write_text(
        _WRK_SCRIPT.format(
            delay_ms=max(0.0, delay_ms),
            connections=LOAD_CONNECTIONS,
            rate=rate,
            prefix=target_prefix(exporter_port, target_port),
            distinct=max(1, distinct),
        )
    )
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{LOAD_CONNECTIONS}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "15s",
            "-s",
            str(script),
            f"http://127.0.0.1:{exporter_port}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("WRKJSON"))
    counts = json.loads(line[len("WRKJSON") :])
    errors = sum(counts[k] for k in ("connect", "read", "write", "status", "timeout"))
    return {"requests": counts["requests"], "seconds": counts["duration_us"] / 1e6, "errors": errors}


def run_python_load(
    exporter_port: int, target_port: int, *, rate: float, seconds: float, distinct: int
) -> dict[str, Any]:
    """The fallback generator (`--load` below) in its own process."""
    url = f"http://127.0.0.1:{exporter_port}{target_prefix(exporter_port, target_port)}"
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--load",
            url,
            "--rate",
            str(rate),
            "--seconds",
            str(seconds),
            "--distinct",
            str(distinct),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


class Reference:
    """blackbox_exporter (already running: `pid`, `port`) probing `target_port` at `rate` probes
    per second. `warm_up()` also calibrates wrk's pacing; `measure()` gives one window's figures.
    Either may run while our engine runs too: then both see the same machine."""

    def __init__(self, workdir: Path, pid: int, port: int, target_port: int, *, rate: float, distinct: int) -> None:
        self.workdir, self.pid, self.port, self.target_port = workdir, pid, port, target_port
        self.rate, self.distinct = rate, distinct
        self.use_wrk = shutil.which("wrk") is not None
        self.delay_ms = LOAD_CONNECTIONS / rate * 1000 - 2.0  # first guess: ~2 ms per probe
        self.sample_target = f"http://127.0.0.1:{target_port}/?i=0"

    def _load(self, seconds: float) -> dict[str, Any]:
        if self.use_wrk:
            return run_wrk(
                self.workdir, self.port, self.target_port,
                rate=self.rate, delay_ms=self.delay_ms, seconds=seconds, distinct=self.distinct,
            )  # fmt: skip
        return run_python_load(self.port, self.target_port, rate=self.rate, seconds=seconds, distinct=self.distinct)

    def warm_up(self, seconds: float) -> None:
        """Load for `seconds`, unmeasured; set wrk's delay so the next run hits `rate`."""
        if not probe_success(self.port, self.sample_target):
            raise RuntimeError("blackbox_exporter: probe_success is not 1 for the target")
        used_ms = max(0.0, self.delay_ms)
        load = self._load(seconds)
        if self.use_wrk and load["requests"]:
            cycle_ms = LOAD_CONNECTIONS / (load["requests"] / load["seconds"]) * 1000
            self.delay_ms = LOAD_CONNECTIONS / self.rate * 1000 - (cycle_ms - used_ms)

    def measure(self, seconds: float) -> dict[str, Any]:
        (user0, sys0), wall0 = proc_cpu_seconds(self.pid), time.perf_counter()
        load = self._load(seconds)
        (user1, sys1), wall = proc_cpu_seconds(self.pid), time.perf_counter() - wall0
        cpu = (user1 - user0) + (sys1 - sys0)
        probes = load["requests"] - load["errors"]
        return {
            "load_generator": "wrk" if self.use_wrk else "aiohttp",
            "window_s": wall,
            "probes": probes,
            "load_errors": load["errors"],
            "probes_per_s": probes / wall,
            "cpu_s": cpu,
            "cpu_s_per_1000": cpu / probes * 1000 if probes else None,
            "sys_cpu_s": sys1 - sys0,
            "cores": cpu / wall,
            "peak_rss_mb": proc_peak_rss_mb(self.pid),
            "probe_success_sample": probe_success(self.port, self.sample_target),
        }


# --- fallback load generator (runs as its own process) -----------------------------------------


async def _paced_load(url_prefix: str, rate: float, seconds: float, distinct: int) -> dict[str, Any]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=LOAD_CONNECTIONS * 4)
    counts = {"requests": 0, "errors": 0}

    async def one(session: aiohttp.ClientSession, n: int) -> None:
        try:
            async with session.get(url_prefix + str(n % distinct)) as response:
                await response.read()
                counts["requests"] += 1
                counts["errors"] += response.status != 200
        except (aiohttp.ClientError, TimeoutError):
            counts["requests"] += 1
            counts["errors"] += 1

    tasks: set[asyncio.Task[None]] = set()
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        n = 0
        while (due := start + n / rate) < start + seconds:  # open loop: send on schedule
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            task = asyncio.create_task(one(session, n))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
        await asyncio.gather(*tasks)
        counts["seconds"] = time.perf_counter() - start
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--load", required=True, help="URL prefix; a counter is appended per request")
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--distinct", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_paced_load(args.load, args.rate, args.seconds, args.distinct))))


if __name__ == "__main__":
    main()
