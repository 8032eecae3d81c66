"""The last result at or before an instant, wherever it is stored: checks that run steadily,
that fell silent hours ago, that run once an hour (the instant falls before this hour's run),
that have a hot result newer than anything packed, that never ran; each answer compared with
the one read from every result, on SQLite, PostgreSQL and MariaDB, through the one-hour fast
path and the per-check way."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from storage import compaction, queries, raw, rollups
from storage.writer import Writer
from tests.history.scenario import H, ts

END = 12 * H
PATTERNS = {  # check → (first, last, step) offsets in seconds of its runs
    "p/steady": (0, END, 30),
    "p/silent": (0, 2 * H + 600, 30),  # nothing after +2:10: beyond the fast path's lookback
    "p/hourly": (40 * 60, END, H),  # one run at :40 of each hour
    "p/late": (9 * H + 30, END, 60),  # starts at +9:00:30
}


def _seed(engine) -> None:
    ids = [*PATTERNS, "p/never"]
    with Session(engine) as s, s.begin():
        queries.sync_checks(s, checks=[{"id": c, "component": "p", "name": c[2:], "kind": "tcp", "settings": {}}
                                       for c in ids], now=ts(-H))
    writer = Writer(engine)
    for check_id, (first, last, step) in PATTERNS.items():
        offset = first
        while offset < last:
            status = "down" if int(offset // step) % 7 == 3 else "up"
            writer.put_result(check_id, ts(offset), status, round(0.01 + offset % 97 / 1e4, 6),
                              f"reason {int(offset)}", {"phases": {"connect": round(0.009 + offset % 89 / 1e4, 6)}})
            offset += step
    writer.flush()
    writer.stop()
    rollups.update(engine, now=ts(END + 60))
    report = compaction.compact(engine, now=ts(END + 60))
    assert report.hours >= 9  # +0:00 … +9:00 packed, the rest hot


def _expected(session, check_ids, at_ms):
    every = raw.raw_results(session, check_ids=check_ids, start=0, end=at_ms + 1)
    out = {}
    for r in every:  # time order: the last one wins
        out[r.check_id] = r
    return out


@pytest.mark.parametrize("in_list", [True, False], ids=["in-list", "hour-scan"])
def test_last_result_at_any_instant(any_db, monkeypatch, in_list):
    engine = any_db
    _seed(engine)
    monkeypatch.setattr(raw, "_IN_LIST_MAX", 1000 if in_list else 0)
    base = round(ts(0) * 1000)
    instants = [-1, 0, 29_999, 30_000, 40 * 60_000 - 1, 40 * 60_000, 2 * 3_600_000 + 601_000, 5 * 3_600_000 + 1,
                9 * 3_600_000 + 10 * 60_000, 9 * 3_600_000 + 45 * 60_000, 10 * 3_600_000 + 5, 11 * 3_600_000,
                12 * 3_600_000 + 5]
    with Session(engine) as s:
        for check_ids in (None, ["p/hourly", "p/silent"], ["p/never"]):
            for offset in instants:
                at_ms = base + offset
                want = _expected(s, check_ids, at_ms)
                got = raw.last_result_at(s, check_ids=check_ids, at=at_ms)
                assert got == want, (check_ids, offset)
            latest = raw.last_result_at(s, check_ids=check_ids)
            assert latest == _expected(s, check_ids, base + 13 * 3_600_000)
