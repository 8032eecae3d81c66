"""Benchmark: our engine running N http checks against a local nginx, on SQLite and PostgreSQL, and
Prometheus' blackbox_exporter probing the same target at the same rate in the same run, so the CPU
ratio holds on a noisy machine. Each system runs in a process of its own; loopback only.

    .venv/bin/python bench/engine.py [--checks 10000 --interval 30 --duration 60 --warmup 35]
                                     [--storage sqlite,postgres] [--loop uvloop,asyncio] [--no-blackbox]
                                     [--workers N | --replicas N]
    .venv/bin/python bench/engine.py --quick        # smoke run: 500 checks every 5 s for 10 s
    .venv/bin/python bench/engine.py --checks 50000 --interval 60 --workers 2 --storage postgres --no-blackbox

Each of our processes is a full service (engine, lease coordinator, parts; not the web server).
`--workers N` runs N of them on one database, splitting the checks through the shard leases;
`--replicas N` does the same with replica ids `replica-<i>` instead of `<hostname>-<pid>`, as
processes on N hosts would be named. On one machine that naming is the only difference: the
lease rules, rounds and takeovers are the same code either way (no host is simulated).

Prints a table and PASS/FAIL per target; writes the figures to bench/out/engine-<time>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import blackbox
from engine_worker import TWEAKS, percentile
from nginx_target import nginx

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "out"
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=5"
WORKER_STARTUP_ALLOWANCE = 300.0  # seconds a worker may take beyond warm-up + window (10k checks)
LEASE_SETTLE = 15.0
"""Seconds added to the default warm-up with several processes: the first to start holds every
shard; the others' share changes hands in about three lease rounds (drain, release, take; a round
every lease_ttl/5 = 3 s by default). One lease_ttl covers it with room."""

# The issues' targets for 10,000 checks every 30 s on this 2-core machine (one process).
MAX_LAG_P99_S = 1.0
MAX_CORES = 0.5
MAX_RSS_MB = 500.0
MAX_CPU_RATIO = 1.0
"""Ours / blackbox_exporter, CPU seconds per probe (issue 11; it was 1.5 while ours measured
1.15-1.38x, before the scheduler's one job per phase slot)."""
MIN_RATE_SHARE = 0.95  # probes done / probes due: the engine keeps up with its schedule
MAX_TOTAL_RSS_MB = 1000.0
"""The scale-out target (50,000 checks every 60 s, --workers 2): all processes' peak RSS summed.
With several processes this replaces the one-process RSS and core targets above."""


# --- storage -------------------------------------------------------------------------------------


@contextlib.contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file under `workdir`, or a new PostgreSQL database
    on the local server (dropped on exit). Raises ConnectionError when PostgreSQL does not answer."""
    if kind == "sqlite":
        path = workdir / f"bench-{secrets.token_hex(4)}.db"
        yield f"sqlite:///{path}"
        return
    try:
        import psycopg
    except ImportError as exc:
        raise ConnectionError("psycopg is not installed (pip install '.[postgres]')") from exc

    name = f"pm_bench_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(PG_ADMIN_DSN, autocommit=True)
    except psycopg.OperationalError as exc:
        raise ConnectionError(f"PostgreSQL does not answer ({PG_ADMIN_DSN}): {exc}") from exc
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{PG_SERVER}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- runs ----------------------------------------------------------------------------------------


def _worker_command(
    args: argparse.Namespace, port: int, url: str, loop: str, window_file: Path,
    *, sync_dir: Path | None = None, index: int = 0,
) -> list[str]:
    options = {
        "--port": port, "--db-url": url, "--checks": args.checks, "--interval": args.interval,
        "--timeout": args.timeout, "--components": args.components, "--concurrency": args.concurrency,
        "--warmup": args.warmup, "--duration": args.duration, "--loop": loop, "--window-file": window_file,
    }  # fmt: skip
    if sync_dir is not None:
        options |= {"--sync-dir": sync_dir, "--index": index}
    if getattr(args, "replicas", 0):
        options["--replica-id"] = f"replica-{index}"
    cmd = [sys.executable, str(HERE / "engine_worker.py")]
    for flag, value in options.items():
        cmd += [flag, str(value)]
    return cmd + [f"--tweak={t}" for t in args.tweak]


def _wait_for(path: Path, procs: list[subprocess.Popen], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            raise RuntimeError(f"a worker exited or timed out before {path.name}")
        time.sleep(0.05)


def run_ours(
    args: argparse.Namespace, storage: str, loop: str, workdir: Path, label: str
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """`args.processes` worker processes on one fresh database under `loop` against a fresh nginx,
    measuring the same window (they start together; the window opens `warmup` seconds after the
    last one is up). With blackbox side by side, the exporter probes the same nginx over that
    window. Returns our figures, summed over the processes, and the exporter's (or None)."""
    side_by_side = not args.no_blackbox and not args.sequential_blackbox
    sync_dir = workdir / f"sync-{label}"
    sync_dir.mkdir()
    window_file = workdir / f"window-{label}"
    limit = args.warmup + args.duration + WORKER_STARTUP_ALLOWANCE
    reference = None
    load_before = os.getloadavg()[0]  # other work on the machine: context for the figures
    procs: list[subprocess.Popen] = []
    logs: list[Path] = []
    with contextlib.ExitStack() as stack:
        port = stack.enter_context(nginx(workdir / f"nginx-{label}"))
        url = stack.enter_context(database(storage, workdir))
        for i in range(args.processes):
            logs.append(OUT_DIR / f"engine-{label}{f'-w{i}' if args.processes > 1 else ''}.log")
            log = stack.enter_context(logs[-1].open("w"))
            cmd = _worker_command(args, port, url, loop, window_file, sync_dir=sync_dir, index=i)
            procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True))
            stack.callback(_reap, procs[-1])
            profiler = _start_py_spy(args, procs[-1].pid, window_file, f"{label}-w{i}" if args.processes > 1 else label)
            stack.callback(_stop_py_spy, profiler)
        for i in range(args.processes):
            _wait_for(sync_dir / f"ready-{i}", procs, limit)
        start = time.time() + args.warmup
        (sync_dir / "window").write_text(f"{start:.3f}")
        if side_by_side:
            pid, exporter_port = stack.enter_context(blackbox.exporter(workdir / f"blackbox-{label}"))
            bb = blackbox.Reference(
                workdir, pid, exporter_port, port, rate=args.checks / args.interval, distinct=args.checks
            )
            bb.warm_up(max(3.0, min(10.0, args.warmup - 5.0)))  # within our warm-up
            _wait_for(window_file, procs, limit)
            reference = bb.measure(args.duration)
        outs = []
        for proc, log_path in zip(procs, logs, strict=True):
            try:
                out, _ = proc.communicate(timeout=limit)
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"worker timed out; see {log_path}") from None
            if proc.returncode != 0 or not out.strip():
                raise RuntimeError(f"worker exited with {proc.returncode}; see {log_path}")
            outs.append(json.loads(out.strip().splitlines()[-1]))
            outs[-1]["lag_samples"] = json.loads((sync_dir / f"lags-{len(outs) - 1}.json").read_text())
    result = outs[0] if len(outs) == 1 else combine(outs)
    result.pop("lag_samples", None)
    if len(outs) > 1:
        result["per_process"] = outs
    result["log"] = [str(p) for p in logs]
    result["loadavg_1m_before_after"] = [load_before, os.getloadavg()[0]]
    return result, reference


def combine(outs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several processes' figures as one system's: counts, CPU, rows and peak RSS summed (the sum
    of the peaks: an upper bound of the total at any one time); CPU per 1,000 probes is the summed
    CPU over the summed probes; lag percentiles over every process's samples together."""
    window = max(o["window_s"] for o in outs)
    probes = sum(o["probes"] for o in outs)
    cpu = sum(o["cpu_s"] for o in outs)
    runs: dict[str, int] = {}
    for o in outs:
        for status, n in o["runs_by_status"].items():
            runs[status] = runs.get(status, 0) + n
    lags = sorted(x for o in outs for x in o.pop("lag_samples") or ())
    summed = ("rows", "skipped_runs", "dropped_writes", "write_failures", "sys_cpu_s", "peak_rss_mb")
    return {
        "processes": len(outs),
        "window_s": window,
        "probes": probes,
        "runs_by_status": runs,
        "probes_per_s": probes / window,
        "cpu_s": cpu,
        "cpu_s_per_1000": cpu / probes * 1000 if probes else None,
        "cores": cpu / window,
        "lag_count": len(lags),
        "lag_p50_s": percentile(lags, 50),
        "lag_p99_s": percentile(lags, 99),
        "lag_max_s": lags[-1] if lags else None,
        "lag_p99_max_per_process_s": max((o["lag_p99_s"] or 0.0) for o in outs),
        "rows_per_s": sum(o["rows"] for o in outs) / window,
        **{key: sum(o[key] for o in outs) for key in summed},
        "owned_checks": [o["owned_checks"] for o in outs],
        "shards_held": [o["shards_held"] for o in outs],
    }


def _reap(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _start_py_spy(args: argparse.Namespace, pid: int, window_file: Path, label: str) -> subprocess.Popen | None:
    """py-spy sampling the worker through the measured window (after the warm-up), if asked."""
    if not args.py_spy:
        return None
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out = OUT_DIR / f"engine-{label}.pyspy.txt"
    # waiting for the worker's window file keeps start-up and warm-up out of the profile;
    # --threads keeps the writer thread apart from the event loop's
    script = (
        f"while [ ! -e {window_file} ]; do sleep 0.1; done; exec {exe} record --pid {pid} --rate 100 "
        f"--threads --nonblocking --format raw --duration {int(args.duration)} --output {out}"
    )
    return subprocess.Popen(["sh", "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop_py_spy(profiler: subprocess.Popen | None) -> None:
    if profiler is not None:
        try:
            profiler.wait(30)
        except subprocess.TimeoutExpired:
            profiler.terminate()
            profiler.wait()


def run_blackbox_alone(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """blackbox_exporter on its own (--sequential-blackbox), before our runs."""
    with nginx(workdir / "nginx-blackbox") as port, blackbox.exporter(workdir / "blackbox") as (pid, bport):
        bb = blackbox.Reference(workdir, pid, bport, port, rate=args.checks / args.interval, distinct=args.checks)
        bb.warm_up(max(5.0, min(args.warmup, 15.0)))
        return bb.measure(args.duration)


# --- report --------------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: dict[str, dict[str, Any]]) -> None:
    w = max(len("system"), *(len(name) for name in rows))
    head = (
        f"{'system':<{w}} {'probes/s':>9} {'ok %':>6} {'lag p50':>8} {'lag p99':>8} "
        f"{'CPU-s/1k':>9} {'sys %':>6} {'cores':>6} {'RSS MB':>7} {'rows/s':>8}"
    )
    print(head)
    print("-" * len(head))
    for name, r in rows.items():
        if "error" in r:
            print(f"{name:<{w}} skipped: {r['error']}")
            continue
        ok = r.get("runs_by_status", {}).get("up")
        ok_pct = (ok / r["probes"] * 100) if ok is not None and r["probes"] else None
        if "probe_success_sample" in r:
            ok_pct = 100.0 * (r["probes"] / (r["probes"] + r["load_errors"])) if r["probes"] else 0.0
        sys_pct = 100 * r["sys_cpu_s"] / r["cpu_s"] if r["cpu_s"] else None
        print(
            f"{name:<{w}} {r['probes_per_s']:>9.1f} {_fmt(ok_pct, '.1f'):>6} "
            f"{_fmt(r.get('lag_p50_s'), '.3f'):>8} {_fmt(r.get('lag_p99_s'), '.3f'):>8} "
            f"{_fmt(r['cpu_s_per_1000'], '.3f'):>9} {_fmt(sys_pct, '.0f'):>6} {r['cores']:>6.3f} "
            f"{r['peak_rss_mb']:>7.0f} "
            f"{_fmt(r.get('rows_per_s'), '.1f'):>8}"
        )


def verdicts(args: argparse.Namespace, rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """PASS/FAIL per target for each of our rows (the ratio against blackbox when it ran)."""
    due_rate = args.checks / args.interval
    out: dict[str, dict[str, Any]] = {}
    for name, r in rows.items():
        if not name.startswith("ours-") or "error" in r:
            continue
        reference = rows.get(f"blackbox@{name.removeprefix('ours-')}") or rows.get("blackbox") or {}
        ref_cpu = reference.get("cpu_s_per_1000")
        lag_p99 = r["lag_p99_s"]
        checks = {
            "keeps_up": (r["probes_per_s"], r["probes_per_s"] >= MIN_RATE_SHARE * due_rate),
            "lag_p99_under_1s": (lag_p99, lag_p99 is not None and lag_p99 < MAX_LAG_P99_S),
        }
        if args.processes == 1:
            checks["under_half_a_core"] = (r["cores"], r["cores"] < MAX_CORES)
            checks["rss_under_500mb"] = (r["peak_rss_mb"], r["peak_rss_mb"] < MAX_RSS_MB)
        else:
            checks["total_rss_under_1gb"] = (r["peak_rss_mb"], r["peak_rss_mb"] < MAX_TOTAL_RSS_MB)
        if ref_cpu and r["cpu_s_per_1000"] is not None:
            ratio = r["cpu_s_per_1000"] / ref_cpu
            checks["cpu_per_probe_vs_blackbox"] = (ratio, ratio <= MAX_CPU_RATIO)
        out[name] = {k: {"value": v, "pass": ok} for k, (v, ok) in checks.items()}
    return out


def print_verdicts(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> None:
    labels = {
        "keeps_up": ("probes/s", f">= {MIN_RATE_SHARE:.0%} of {args.checks / args.interval:.1f} due"),
        "lag_p99_under_1s": ("lag p99", f"< {MAX_LAG_P99_S:g} s"),
        "under_half_a_core": ("cores", f"< {MAX_CORES:g}"),
        "rss_under_500mb": ("peak RSS", f"< {MAX_RSS_MB:g} MB"),
        "total_rss_under_1gb": ("peak RSS, summed", f"< {MAX_TOTAL_RSS_MB:g} MB"),
        "cpu_per_probe_vs_blackbox": ("CPU/probe ours/blackbox", f"<= {MAX_CPU_RATIO:g}x"),
    }
    for name, checks in results.items():
        print(f"\n{name}:")
        for key, v in checks.items():
            label, target = labels[key]
            print(f"  {label:<24} {_fmt(v['value'], '.3f'):>8}  {target:<28} {'PASS' if v['pass'] else 'FAIL'}")


# --- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--checks", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between runs of a check")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds, per probe")
    parser.add_argument("--components", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=1000, help="engine.concurrency")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds measured")
    parser.add_argument(
        "--warmup",
        type=float,
        help="seconds after start not measured (default: interval + 5, so every check's first run,\n"
        "which records an unknown → up change, falls before the window)",
    )
    parser.add_argument("--storage", default="sqlite,postgres", help="comma list: sqlite, postgres")
    parser.add_argument("--loop", default="uvloop", help="comma list: uvloop (as `serve`), asyncio")
    parser.add_argument("--no-blackbox", action="store_true", help="skip blackbox_exporter")
    parser.add_argument(
        "--sequential-blackbox",
        action="store_true",
        help="measure blackbox_exporter once, alone, before our runs (default: side by side with\n"
        "each of our runs, probing the same nginx over the same window)",
    )
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--workers", type=int, default=1, help="service processes on this host sharing one database")
    scale.add_argument(
        "--replicas", type=int, default=0,
        help="as --workers, each with its own replica id (replica-<i>), as if on its own host;\n"
        "on one machine the difference is the naming alone",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="smoke run: 500 checks, 5 s interval, 10 s")
    parser.add_argument("--py-spy", action="store_true", help="profile each worker's window with py-spy")
    parser.add_argument(
        "--tweak",
        action="append",
        default=[],
        choices=list(TWEAKS),
        help="simulate a proposed change in our engine (repeatable):\n"
        + "\n".join(f"  {k}: {v}" for k, v in TWEAKS.items()),
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.checks, args.interval, args.duration = 500, 5.0, 10.0
        args.timeout = min(args.timeout, args.interval)  # the config refuses a timeout beyond the interval
    args.processes = args.replicas or args.workers
    if args.processes < 1:
        parser.error("--workers/--replicas: at least 1")
    if args.warmup is None:
        args.warmup = args.interval + 5.0 + (LEASE_SETTLE if args.processes > 1 else 0.0)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    storages = [s.strip() for s in args.storage.split(",") if s.strip()]
    loops = [s.strip() for s in args.loop.split(",") if s.strip()]
    print(
        f"{args.checks} http checks every {args.interval:g} s (≈{args.checks / args.interval:.1f} probes/s), "
        f"warm-up {args.warmup:g} s, window {args.duration:g} s, {os.cpu_count()} CPUs; "
        f"storage {','.join(storages)}; loop {','.join(loops)}; {args.processes} process(es)",
        flush=True,
    )
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="pm-bench-") as tmp:
        workdir = Path(tmp)
        if not args.no_blackbox and args.sequential_blackbox:
            print("running blackbox ...", flush=True)
            try:
                rows["blackbox"] = run_blackbox_alone(args, workdir)
            except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
                rows["blackbox"] = {"error": str(exc)}
        for storage in storages:
            for loop in loops:
                name = f"ours-{storage}" + (f"-{loop}" if len(loops) > 1 else "")
                if args.processes > 1:
                    name += f"-{args.processes}" + ("replicas" if args.replicas else "workers")
                name += "".join(f"+{t}" for t in args.tweak)
                side = "" if args.no_blackbox or args.sequential_blackbox else " with blackbox side by side"
                print(f"running {name}{side} ...", flush=True)
                try:
                    rows[name], reference = run_ours(args, storage, loop, workdir, f"{stamp}-{storage}-{loop}")
                    if reference is not None:
                        rows[f"blackbox@{name.removeprefix('ours-')}"] = reference
                except (ConnectionError, RuntimeError, OSError, subprocess.CalledProcessError) as exc:
                    rows[name] = {"error": str(exc)}
    print()
    print_table(rows)
    loads = {n: r["loadavg_1m_before_after"] for n, r in rows.items() if "loadavg_1m_before_after" in r}
    if loads:
        print(
            "load average (1 min) before → after: " + ", ".join(f"{n} {a:.1f} → {b:.1f}" for n, (a, b) in loads.items())
        )
    results = verdicts(args, rows)
    print_verdicts(args, results)
    report = {
        "time": stamp,
        "params": vars(args),
        "cpus": os.cpu_count(),
        "systems": rows,
        "targets": results,
    }
    path = OUT_DIR / f"engine-{stamp}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"\nfigures: {path}")
    return 0 if all(v["pass"] for checks in results.values() for v in checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
