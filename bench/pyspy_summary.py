"""Summarise a py-spy `--format raw` profile (collapsed stacks, as `bench/engine.py --py-spy` writes):
where the samples go by package (inclusive, first frame of each package on the stack) and by
function (self time). Reads a file; changes nothing.

    .venv/bin/python bench/pyspy_summary.py bench/out/engine-<time>-sqlite-uvloop.pyspy.txt [--top 30]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

# py-spy writes frames as "function (package/module.py:123)", paths relative to sys.path
_FRAME_RE = re.compile(r"^(?P<func>.*) \((?P<file>[^:()]+)(?::\d+)?\)$")


def package_of(path: str) -> str:
    """The top-level package (or module) a frame's file belongs to: `aiohttp`, `monitor`, `socket`."""
    parts = Path(path).parts
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1 :]
    return parts[0].removesuffix(".py") if parts else "?"


def summarise(text: str) -> tuple[int, Counter[str], Counter[str], Counter[str], Counter[str], Counter[str]]:
    """Total samples; by thread; inclusive by package; self by frame; self by package; self by the
    nearest non-stdlib package."""
    total = 0
    by_thread: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    self_by_package: Counter[str] = Counter()
    self_by_owner: Counter[str] = Counter()
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        if frames and frames[0].startswith(("thread", "process")):
            by_thread[frames[0]] += n
            frames = frames[1:]
        seen: set[str] = set()
        for frame in frames:
            match = _FRAME_RE.match(frame)
            package = package_of(match.group("file")) if match else "?"
            if package not in seen:
                seen.add(package)
                inclusive[package] += n
        if frames:
            self_time[frames[-1]] += n
            match = _FRAME_RE.match(frames[-1])
            self_by_package[package_of(match.group("file")) if match else "?"] += n
            self_by_owner[owner_of(frames)] += n
    return total, by_thread, inclusive, self_time, self_by_package, self_by_owner


def owner_of(frames: list[str]) -> str:
    """The nearest non-standard-library package on the stack, leaf first: who asked for the work
    (httpx's cookie handling runs in urllib and http.cookiejar, but httpx asked for it)."""
    for frame in reversed(frames):
        match = _FRAME_RE.match(frame)
        package = package_of(match.group("file")) if match else "?"
        if package not in sys.stdlib_module_names:
            return package
    leaf = _FRAME_RE.match(frames[-1])
    return "stdlib:" + (package_of(leaf.group("file")) if leaf else "?")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("profile")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    total, by_thread, inclusive, self_time, self_by_package, self_by_owner = summarise(Path(args.profile).read_text())
    if not total:
        print("no samples")
        return
    print(f"{total} samples")
    print("\nby thread:")
    for name, n in by_thread.most_common():
        print(f"  {n / total:6.1%}  {name}")
    print("\ninclusive by package (a package counted once per stack):")
    for name, n in inclusive.most_common(args.top):
        print(f"  {n / total:6.1%}  {name}")
    print("\nself time by package (native code is charged to the Python frame that called it):")
    for name, n in self_by_package.most_common(args.top):
        print(f"  {n / total:6.1%}  {name}")
    print("\nself time by the nearest non-stdlib package on the stack (who asked for the work):")
    for name, n in self_by_owner.most_common(args.top):
        print(f"  {n / total:6.1%}  {name}")
    print(f"\nself time, top {args.top} frames:")
    for name, n in self_time.most_common(args.top):
        print(f"  {n / total:6.1%}  {name}")


if __name__ == "__main__":
    main()
