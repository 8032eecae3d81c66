"""The buffer file: order, forgetting, the bound and its counter, persistence across reopening."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from monitor.agent.buffer import Buffer


def _results(n: int, start: int = 0, check: str = "c/a") -> list[dict]:
    return [{"check": check, "time": 1000.0 + i, "status": "up"} for i in range(start, start + n)]


def test_oldest_first_and_forget(tmp_path: Path) -> None:
    buf = Buffer(tmp_path / "b.db")
    buf.append(_results(5))
    first = buf.oldest(3)
    assert [p.result["time"] for p in first] == [1000.0, 1001.0, 1002.0]
    assert buf.forget([p.seq for p in first]) == 3
    assert buf.forget([p.seq for p in first]) == 0  # forgetting twice is harmless
    assert buf.count == 2
    assert [p.result["time"] for p in buf.oldest(10)] == [1003.0, 1004.0]


def test_bound_drops_the_oldest_and_counts_them_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    buf = Buffer(path, limit=10)
    assert buf.append(_results(8)) == 0
    assert buf.append(_results(5, start=8)) == 3
    assert buf.count == 10 and buf.dropped == 3
    assert buf.oldest(1)[0].result["time"] == 1003.0
    assert buf.set_limit(4) == 6
    buf.close()
    again = Buffer(path)
    assert again.count == 4 and again.dropped == 9
    assert [p.result["time"] for p in again.oldest(10)] == [1009.0, 1010.0, 1011.0, 1012.0]


def test_refused_checks_leave_and_are_counted(tmp_path: Path) -> None:
    buf = Buffer(tmp_path / "b.db")
    buf.append(_results(3, check="c/a") + _results(2, check="c/b") + _results(1, check="c/c"))
    assert buf.refuse_checks(["c/b", "c/c"]) == 3
    assert buf.refuse([buf.oldest(1)[0].seq]) == 1
    assert buf.count == 2 and buf.refused == 4 and buf.dropped == 0
    assert {p.check for p in buf.oldest(10)} == {"c/a"}


def test_persists_results_and_values_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    buf = Buffer(path)
    buf.append(_results(2))
    buf.remember("assignment", '{"version": "v1"}')
    buf.remember("clock_offset", -0.25)
    # not closed: what a killed process leaves (WAL, synchronous=NORMAL: committed is kept)
    other = Buffer(path)
    assert other.count == 2
    assert other.recall("assignment") == '{"version": "v1"}'
    assert other.recall("clock_offset") == -0.25
    assert other.recall("nothing") is None
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_seq_keeps_growing_after_forgetting_everything(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    buf = Buffer(path)
    buf.append(_results(3))
    last = buf.oldest(3)[-1].seq
    buf.forget([p.seq for p in buf.oldest(3)])
    buf.close()
    buf = Buffer(path)
    buf.append(_results(1))
    assert buf.oldest(1)[0].seq > last  # AUTOINCREMENT: never reused


def test_threads_append_while_another_forgets(tmp_path: Path) -> None:
    buf = Buffer(tmp_path / "b.db", limit=1_000_000)
    forgotten = []

    def writer(k: int) -> None:
        for i in range(50):
            buf.append(_results(10, start=k * 1000 + i * 10))

    def reader() -> None:
        for _ in range(100):
            batch = buf.oldest(20)
            buf.forget([p.seq for p in batch])
            forgotten.extend(p.result["time"] for p in batch)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(3)] + [threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    left = [p.result["time"] for p in buf.oldest(10_000)]
    assert buf.count == len(left) == 1500 - len(forgotten)
    assert sorted(left + forgotten) == sorted(r["time"] for k in range(3) for r in _results(500, start=k * 1000))
