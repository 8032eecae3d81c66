"""Benchmark worker: runs our service (monitor.service.Service: the engine with its lease
coordinator and parts, as `serve` builds it without the web server) with N http checks against a
local target in this process alone, so `getrusage(RUSAGE_SELF)` (every thread: loop, writer, lease
rounds, executors) and `ru_maxrss` are its own. Several workers on one database split the checks
through the shard leases, as several `serve` processes do. Prints one JSON object with the window's
figures on stdout; logs go to stderr.

    .venv/bin/python bench/engine_worker.py --port P --db-url URL [--checks 10000 --interval 30 ...]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import resource
import sys
import time
from pathlib import Path
from typing import Any

SAMPLE_EVERY = 1.0  # seconds between samples of in-flight probes and pending writes
SYNC_POLL = 0.1  # seconds between looks for the parent's window file (--sync-dir)
LAG_DIGITS = 4  # lag samples handed to the parent are rounded to 0.1 ms (a p99 needs no more)

TWEAKS = {
    "gc-freeze": "gc.freeze() once the engine has started (config, checks, jobs out of the GC's way)",
    "aiohttp-direct": "the http probe as one plain aiohttp GET, without httpx (a floor, not a probe)",
    "break-cycle": "after a response is closed, drop httpx's Response <-> BoundAsyncStream cycle",
    "lean-scheduler": "one loop.call_at timer per check instead of APScheduler (same phases, no overlap)",
}
"""Proposed changes, simulated from here (bench/ only) so their gain can be measured."""


def build_config_text(args: argparse.Namespace) -> str:
    """The config as YAML text (JSON is YAML), through the same parser as a user's file."""
    checks = [
        {
            "name": f"http-{i}",
            "component": f"comp-{i % args.components}",
            "kind": "http",
            "url": f"http://127.0.0.1:{args.port}/?i={i}",
        }
        for i in range(args.checks)
    ]
    return json.dumps(
        {
            "storage": {"url": args.db_url},
            "defaults": {"interval": f"{args.interval:g}s", "timeout": f"{args.timeout:g}s"},
            "engine": {"concurrency": args.concurrency, **({"replica_id": args.replica_id} if args.replica_id else {})},
            "checks": checks,
        }
    )


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def sys_cpu_seconds() -> float:
    """Kernel time alone: on loopback it includes much of the target's side of each handshake."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an already sorted list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[rank]


def _held(engine: Any) -> int | None:
    """Shards this process probes now (None: all, before any lease round settled)."""
    held = engine.ownership.held
    return None if held is None else len(held)


def _snapshot(engine: Any) -> dict[str, Any]:
    runs: dict[str, int] = {}
    for state in engine.state.checks.values():
        for status, n in state.runs.items():
            runs[status] = runs.get(status, 0) + n
    return {
        "cpu": cpu_seconds(),
        "sys_cpu": sys_cpu_seconds(),
        "wall": time.perf_counter(),
        "runs": runs,
        "rows": engine.writer.rows_written if engine.writer else 0,
        "skipped": engine.scheduler.skipped,
        "dropped": engine.writer.dropped if engine.writer else 0,
        "write_failures": engine.writer.failures if engine.writer else 0,
        "owned_checks": engine.owned_count(),
        "shards_held": _held(engine),
    }


class GcPauses:
    """Collections per generation and their pauses (a full collection over every check's objects
    stops the loop, which shows as scheduling lag)."""

    def __init__(self) -> None:
        self.stats = {gen: {"count": 0, "total_s": 0.0, "max_s": 0.0, "collected": 0} for gen in range(3)}
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
            return
        pause = time.perf_counter() - self._t0
        stats = self.stats[info["generation"]]
        stats["count"] += 1
        stats["collected"] += info["collected"]
        stats["total_s"] += pause
        stats["max_s"] = max(stats["max_s"], pause)


async def _sample(engine: Any, peaks: dict[str, int]) -> None:
    while True:
        await asyncio.sleep(SAMPLE_EVERY)
        peaks["in_flight"] = max(peaks["in_flight"], engine.runner.in_flight)
        if engine.writer is not None:
            peaks["pending_writes"] = max(peaks["pending_writes"], engine.writer.pending)


def _direct_aiohttp_probe() -> Any:
    """An http probe that is one aiohttp GET on a fresh connection: the cost floor of the
    client library, for comparison with probes/http.py over httpx."""
    import aiohttp

    from probes.base import Result

    sessions: list[aiohttp.ClientSession] = []

    async def probe(cfg: Any, ctx: Any) -> Result:
        if not sessions:
            connector = aiohttp.TCPConnector(force_close=True, limit=0, use_dns_cache=False)
            sessions.append(
                aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False)
            )
        try:
            async with sessions[0].get(cfg.url, allow_redirects=False) as response:
                body = await response.read()
        except (aiohttp.ClientError, OSError) as exc:
            return Result.down(f"{type(exc).__name__}: {exc}")
        if 200 <= response.status <= 299:
            return Result.up(f"HTTP {response.status}", status_code=response.status, body_bytes_read=len(body))
        return Result.down(f"HTTP {response.status} (expected 2xx)", status_code=response.status)

    return probe


class LeanScheduler:
    """One event-loop timer per check at its phase (monitor.scheduler.first_run), no APScheduler:
    what scheduling costs without its job store, executor, thread-safe wake-ups and events. A run
    still in flight when its check is due again is skipped, as APScheduler's max_instances=1 does."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.loop = asyncio.get_running_loop()
        self.running: set[str] = set()
        self.tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Timers for the checks owned now (shards that change hands later are not followed: a
        simulation for one process, not for --workers)."""
        from monitor.scheduler import first_run

        now = time.time()
        for cid, check in self.engine.checks.items():
            if not self.engine.ownership.owns(cid):
                continue
            due = first_run(cid, check.interval, now)
            self.loop.call_at(self.loop.time() + (due - now), self._fire, cid, due, check.interval)

    def _fire(self, cid: str, due: float, interval: float) -> None:
        now = time.time()
        on_lag = self.engine.scheduler.on_lag
        if on_lag is not None:
            on_lag(now - due)
        following = due + interval
        while following <= now:  # missed runs are dropped, like APScheduler's coalesce
            following += interval
        self.loop.call_at(self.loop.time() + (following - now), self._fire, cid, following, interval)
        if cid in self.running:
            self.engine.scheduler.skipped += 1
            return
        self.running.add(cid)
        task = self.loop.create_task(self._run(cid))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, cid: str) -> None:
        try:
            await self.engine._run_by_id(cid)
        finally:
            self.running.discard(cid)


def apply_tweaks(tweaks: list[str]) -> None:
    """Before the engine is built: the tweaks that replace or quiet something."""
    if "break-cycle" in tweaks:
        import httpx

        close = httpx.Response.aclose

        async def aclose(self: httpx.Response) -> None:
            await close(self)
            self.stream = httpx.ByteStream(b"")  # refcounting then frees the run's objects at once

        httpx.Response.aclose = aclose  # type: ignore[method-assign]
    if "aiohttp-direct" in tweaks:
        from probes import PROBES, ProbeKind

        PROBES["http"] = ProbeKind(PROBES["http"].model, _direct_aiohttp_probe())


async def _wait_for_window(args: argparse.Namespace) -> None:
    """Alone: sleep through the warm-up. With --sync-dir (several workers): say ready, then wait for
    the parent's window file, which names the common start of the measured window (unix seconds),
    so every worker measures the same seconds."""
    if not args.sync_dir:
        await asyncio.sleep(args.warmup)
        return
    sync = Path(args.sync_dir)
    await asyncio.to_thread((sync / f"ready-{args.index}").touch)
    start = await asyncio.to_thread(_read_when_written, sync / "window")
    await asyncio.sleep(max(0.0, float(start) - time.time()))


def _read_when_written(path: Path) -> str:
    """The file's text once another process has written it (blocking: run in a thread)."""
    while not path.exists() or not (text := path.read_text().strip()):
        time.sleep(SYNC_POLL)
    return text


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    from monitor.config import parse_config
    from monitor.process import configure_process, freeze_heap
    from monitor.service import Service
    from storage.db import create_db_engine

    t0, cpu0 = time.perf_counter(), cpu_seconds()
    config = parse_config(build_config_text(args), "<bench>", env={})
    db = create_db_engine(args.db_url)
    configure_process()  # as `platform-monitor serve` does
    service = Service(config, db=db, settle=freeze_heap)  # freeze_heap: as the CLI's settle hook
    engine = service.engine
    apply_tweaks(args.tweak)
    if "lean-scheduler" in args.tweak:
        engine.schedule = lambda: LeanScheduler(engine).start()  # type: ignore[method-assign]
    await service.start()  # engine, first lease round, schedule, parts
    if "gc-freeze" in args.tweak:
        gc.collect()
        gc.freeze()
    startup = {"wall_s": time.perf_counter() - t0, "cpu_s": cpu_seconds() - cpu0}
    peaks = {"in_flight": 0, "pending_writes": 0}
    sampler = asyncio.create_task(_sample(engine, peaks))
    lags: list[float] = []
    try:
        await _wait_for_window(args)
        if args.window_file:  # a profiler attached from outside starts now
            await asyncio.to_thread(Path(args.window_file).touch)
        before = _snapshot(engine)
        gc_pauses = GcPauses()
        gc.callbacks.append(gc_pauses)
        engine.scheduler.on_lag = lags.append
        await asyncio.sleep(args.duration)
        engine.scheduler.on_lag = None
        gc.callbacks.remove(gc_pauses)
        after = _snapshot(engine)
    finally:
        sampler.cancel()
        stop0 = time.perf_counter()
        await service.stop()  # gives the leases back and disposes of `db`
    wall = after["wall"] - before["wall"]
    cpu = after["cpu"] - before["cpu"]
    runs = {s: after["runs"].get(s, 0) - before["runs"].get(s, 0) for s in after["runs"]}
    probes = sum(runs.values())
    lags.sort()
    if args.sync_dir:  # for percentiles over several processes' samples together (a file: stdout stays one short line)
        samples = json.dumps([round(x, LAG_DIGITS) for x in lags])
        await asyncio.to_thread((Path(args.sync_dir) / f"lags-{args.index}.json").write_text, samples)
    return {
        "checks": args.checks,
        "interval_s": args.interval,
        "loop": args.loop,
        "tweaks": args.tweak,
        "window_s": wall,
        "probes": probes,
        "runs_by_status": runs,
        "probes_per_s": probes / wall,
        "cpu_s": cpu,
        "cpu_s_per_1000": cpu / probes * 1000 if probes else None,
        "sys_cpu_s": after["sys_cpu"] - before["sys_cpu"],
        "cores": cpu / wall,
        "lag_count": len(lags),
        "lag_p50_s": percentile(lags, 50),
        "lag_p99_s": percentile(lags, 99),
        "lag_max_s": lags[-1] if lags else None,
        "replica_id": service.coordinator.id,
        "owned_checks": [before["owned_checks"], after["owned_checks"]],
        "shards_held": [before["shards_held"], after["shards_held"]],
        "rows": after["rows"] - before["rows"],
        "rows_per_s": (after["rows"] - before["rows"]) / wall,
        "skipped_runs": after["skipped"] - before["skipped"],
        "dropped_writes": after["dropped"] - before["dropped"],
        "write_failures": after["write_failures"] - before["write_failures"],
        "peak_in_flight": peaks["in_flight"],
        "peak_pending_writes": peaks["pending_writes"],
        "gc": gc_pauses.stats,
        "gc_objects": len(gc.get_objects()),
        "startup": startup,
        "stop_s": time.perf_counter() - stop0,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # Linux: KiB
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="the target's port on 127.0.0.1")
    parser.add_argument("--db-url", required=True)
    parser.add_argument("--checks", type=int, default=10_000)
    parser.add_argument("--components", type=int, default=50)
    parser.add_argument("--interval", type=float, default=30.0, help="seconds")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds")
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument("--warmup", type=float, default=35.0, help="seconds after start, not measured")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds measured")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--window-file", help="touched when the measured window starts")
    parser.add_argument("--tweak", action="append", default=[], choices=list(TWEAKS), help="see TWEAKS")
    parser.add_argument("--replica-id", help="engine.replica_id (default: <hostname>-<pid>)")
    parser.add_argument("--sync-dir", help="several workers: ready-<index> written here, window start read here")
    parser.add_argument("--index", type=int, default=0, help="this worker's number among several")
    args = parser.parse_args()
    # as `platform-monitor serve` sets logging up (monitor.cli.main; its default --log-level is info)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.loop == "uvloop":
        import uvloop

        result = uvloop.run(measure(args))
    else:
        result = asyncio.run(measure(args))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
