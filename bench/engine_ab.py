"""A/B benchmark of proposed engine changes: our engine as it is and with each `--tweak` variant
(see engine_worker.TWEAKS), all running at once over the same window, each with its own nginx and
SQLite file, so a busy machine weighs on every variant alike. Repeats with the order rotated.

    .venv/bin/python bench/engine_ab.py --variant break-cycle --variant break-cycle+gc-freeze [--repeat 2]
    .venv/bin/python bench/engine_ab.py --baseline-tree /tmp/base --variant current [--repeat 2]

`--baseline-tree` compares a change already made in the code (the variant `current`, this tree)
with another checkout of the project (say `git worktree add /tmp/base HEAD~1`): the baseline's
worker imports monitor/, probes/ and storage/ from there (PYTHONPATH comes before the editable
install on sys.path); the worker script itself is this tree's.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import mean
from typing import Any

from engine import OUT_DIR, WORKER_STARTUP_ALLOWANCE, _reap, _worker_command, database, parse_args
from engine_worker import TWEAKS
from nginx_target import nginx

BASELINE = "baseline"
CURRENT = "current"  # this tree as it is, with --baseline-tree


def run_round(
    args: argparse.Namespace, variants: list[str], workdir: Path, stamp: str, baseline_tree: str | None = None
) -> dict[str, Any]:
    """Start one worker per variant together; return each one's figures."""
    procs: dict[str, subprocess.Popen] = {}
    with contextlib.ExitStack() as stack:
        for variant in variants:
            vargs = copy.copy(args)
            vargs.tweak = [] if variant in (BASELINE, CURRENT) else variant.split("+")
            env = None
            if variant == BASELINE and baseline_tree:
                env = {**os.environ, "PYTHONPATH": baseline_tree}
            label = f"{stamp}-ab-{variant}"
            port = stack.enter_context(nginx(workdir / f"nginx-{label}"))
            url = stack.enter_context(database("sqlite", workdir))
            log = stack.enter_context((OUT_DIR / f"engine-{label}.log").open("w"))
            cmd = _worker_command(vargs, port, url, args.loop, workdir / f"window-{label}")
            procs[variant] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
            stack.callback(_reap, procs[variant])
        results = {}
        for variant, proc in procs.items():
            out, _ = proc.communicate(timeout=args.warmup + args.duration + WORKER_STARTUP_ALLOWANCE)
            if proc.returncode != 0 or not out.strip():
                raise RuntimeError(f"worker {variant} exited with {proc.returncode}")
            results[variant] = json.loads(out.strip().splitlines()[-1])
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument(
        "--variant",
        action="append",
        required=True,
        help="tweaks joined with '+', compared with the unchanged engine:\n"
        + "\n".join(f"  {k}: {v}" for k, v in TWEAKS.items()),
    )
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--baseline-tree", help="a checkout whose code the baseline runs (see above)")
    own, rest = parser.parse_known_args()
    for variant in own.variant:
        unknown = [t for t in variant.split("+") if t not in TWEAKS and variant != CURRENT]
        if unknown:
            parser.error(f"unknown tweak(s): {', '.join(unknown)}")
    args = parse_args(rest)  # --checks, --interval, --duration, --warmup, --quick ... as bench/engine.py
    args.loop = args.loop.split(",")[0]
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    variants = [BASELINE, *own.variant]
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="pm-bench-ab-") as tmp:
        for i in range(own.repeat):
            order = variants[i % len(variants) :] + variants[: i % len(variants)]
            print(f"round {i + 1}/{own.repeat}: {', '.join(order)} at once ...", flush=True)
            rounds.append(run_round(args, order, Path(tmp), f"{stamp}-{i}", own.baseline_tree))
    base = mean(r[BASELINE]["cpu_s_per_1000"] for r in rounds)
    w = max(len(v) for v in variants)
    print(f"\n{'variant':<{w}} {'CPU-s/1k (each round)':<24} {'mean':>6} {'vs base':>8} {'lag p99':>8} {'max':>6}")
    for variant in variants:
        cpus = [r[variant]["cpu_s_per_1000"] for r in rounds]
        p99 = max(r[variant]["lag_p99_s"] for r in rounds)
        lag_max = max(r[variant]["lag_max_s"] for r in rounds)
        each = " ".join(f"{c:.3f}" for c in cpus)
        print(
            f"{variant:<{w}} {each:<24} {mean(cpus):>6.3f} {mean(cpus) / base - 1:>+8.1%} {p99:>8.3f} {lag_max:>6.3f}"
        )
    path = OUT_DIR / f"engine-ab-{stamp}.json"
    path.write_text(json.dumps({"params": vars(args), "variants": variants, "rounds": rounds}, indent=2))
    print(f"\nfigures: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
