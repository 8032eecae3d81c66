"""Synthetic history for the history benchmark: N checks in components of ten, incidents at
random (per check, about one every 5 days, 70 % down, 30 % degraded, ~10 minutes each), raw
results at a fixed interval for the last `raw_days`, 5-minute/hourly rollups before that (as the
rollup job would have left them), daily rollups computed by storage.rollups itself.

Bulk loading: COPY on PostgreSQL (indexes built after the load), one big transaction with the
time index built afterwards on SQLite. Rows are produced in time order, as the writer would."""

from __future__ import annotations

import io
import math
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, make_url, text
from sqlalchemy.orm import Session

from storage import queries, rollups
from storage.latency import BIN_COLUMNS, SLOTS_PER_HOUR, Summary, encode_slots

HOUR_MS, DAY_MS = 3_600_000, 86_400_000
CHECKS_PER_COMPONENT = 10
INCIDENT_GAP_DAYS = 5.0  # mean days between incidents of one check
INCIDENT_MINUTES = 10.0  # mean incident length
BLIP_RATE = 0.003  # isolated failed runs that do not change the state (failure_threshold 2)
TEMPLATES = 24  # normal hours per check, reused at random (generating 2 M hours one by one is slow)
DOWN_REASONS = ("HTTP 503 (expected 2xx)", "timeout after 10s", "connection refused", "connection reset")
HTTP_DETAILS = ('{{"status_code": 200, "http_version": "HTTP/1.1", "url": "https://svc-{n}.example.com/healthz", '
                '"redirects": 0, "body_bytes_read": 16, "phases": {{"headers": {h:.6f}, "body": {b:.6f}}}}}')
TCP_DETAILS = '{{"phases": {{"connect": {c:.6f}}}}}'


@dataclass
class CheckPlan:
    id: str
    component: str
    median: float  # seconds
    phase_ms: int
    changes: list[tuple[int, str, str, str]] = field(default_factory=list)  # ts, old, new, reason

    def state_at(self, ts: int, cursor: list[int]) -> tuple[str, str]:
        """(state, reason) at ts, with a moving cursor (ts must not decrease between calls)."""
        i = cursor[0]
        while i + 1 < len(self.changes) and self.changes[i + 1][0] <= ts:
            i += 1
        cursor[0] = i
        return self.changes[i][2], self.changes[i][3]


@dataclass
class Plan:
    checks: list[CheckPlan]
    start_ms: int  # history begins
    raw_from_ms: int
    now_ms: int
    interval_ms: int
    details: str  # none | tcp | http

    @property
    def components(self) -> list[str]:
        return sorted({c.component for c in self.checks})


def make_plan(*, n_checks: int, days: int, raw_days: float, interval: int, now_ms: int, details: str,
              seed: int = 7) -> Plan:
    rng = random.Random(seed)
    start = now_ms - days * DAY_MS
    checks = []
    for i in range(n_checks):
        comp = f"component-{i // CHECKS_PER_COMPONENT:03d}"
        plan = CheckPlan(f"{comp}/check-{i % CHECKS_PER_COMPONENT:03d}", comp,
                         median=math.exp(rng.uniform(math.log(0.005), math.log(0.3))),
                         phase_ms=rng.randrange(interval * 1000))
        first = start + plan.phase_ms
        plan.changes.append((first, "unknown", "up", "HTTP 200"))
        t = first
        while True:
            t += int(rng.expovariate(1 / INCIDENT_GAP_DAYS) * DAY_MS)
            length = max(2, round(rng.expovariate(1 / INCIDENT_MINUTES) * 60 / interval)) * interval * 1000
            if t + length >= now_ms:
                break
            t = first + (t - first) // (interval * 1000) * interval * 1000  # on a run's time
            bad = "down" if rng.random() < 0.7 else "degraded"
            why = rng.choice(DOWN_REASONS) if bad == "down" else "slower than max_latency 800ms"
            plan.changes += [(t, "up", bad, why), (t + length, bad, "up", "HTTP 200")]
            t += length
        checks.append(plan)
    return Plan(checks, start, now_ms - int(raw_days * DAY_MS), now_ms, interval * 1000, details)


def component_changes(plan: Plan) -> list[tuple[str, int, str, str, str]]:
    """What the state machine would record for each component: worst known state of its checks."""
    severity = {"up": 0, "unknown": 1, "degraded": 2, "down": 3}
    out = []
    by_comp: dict[str, list[CheckPlan]] = {}
    for c in plan.checks:
        by_comp.setdefault(c.component, []).append(c)
    for comp, members in by_comp.items():
        events = sorted((ts, c.id, new, why) for c in members for ts, _old, new, why in c.changes)
        states = {c.id: "unknown" for c in members}
        current = "unknown"
        for ts, cid, new, why in events:
            states[cid] = new
            known = [s for s in states.values() if s != "unknown"]
            worst = max(known, key=severity.__getitem__) if known else "unknown"
            if worst != current:
                if out and out[-1][0] == comp and out[-1][1] == ts:
                    out[-1] = (comp, ts, out[-1][2], worst, f"{cid}: {why}")
                else:
                    out.append((comp, ts, current, worst, f"{cid}: {why}"))
                current = worst
    return out


# -- generated rows --------------------------------------------------------------------------------
def _latency(rng: random.Random, median: float, state: str) -> float:
    return median * math.exp(rng.gauss(0, 0.35)) * (4.0 if state == "degraded" else 1.0)


def _details(plan: Plan, n: int, latency: float) -> str | None:
    if plan.details == "none":
        return None
    if plan.details == "tcp":
        return TCP_DETAILS.format(c=latency)
    return HTTP_DETAILS.format(n=n, h=latency * 0.9, b=latency * 0.1)


def raw_rows(plan: Plan) -> Iterator[tuple[Any, ...]]:
    """(check_id, ts_ms, status, latency, reason, details) for every run since raw_from, time order."""
    rng = random.Random(11)
    step = plan.interval_ms
    cursors = [[0] for _ in plan.checks]
    k0 = -(-(plan.raw_from_ms - plan.start_ms) // step)
    k1 = (plan.now_ms - plan.start_ms) // step
    for k in range(k0, k1):
        base = plan.start_ms + k * step
        for n, c in enumerate(plan.checks):
            ts = base + c.phase_ms
            if ts >= plan.now_ms:
                continue
            state, why = c.state_at(ts, cursors[n])
            if state == "up" and rng.random() < BLIP_RATE:
                state, why = "down", "connection reset"
            if state == "down":
                latency = 10.0 if why.startswith("timeout") else 0.002
            else:
                latency = _latency(rng, c.median, state)
            yield c.id, ts, state, round(latency, 6), why if state != "up" else "HTTP 200", _details(plan, n, latency)


def _hour_summaries(rng: random.Random, c: CheckPlan, hour: int, step: int, cursor: list[int]) -> list[Summary]:
    slots = []
    for s in range(SLOTS_PER_HOUR):
        summary = Summary()
        t = hour + s * 300_000 + c.phase_ms % step
        while t < hour + (s + 1) * 300_000:
            state, _ = c.state_at(t, cursor) if cursor is not None else ("up", "")
            if state == "up" and rng.random() < BLIP_RATE:
                state = "down"
            summary.add(state, 10.0 if state == "down" else _latency(rng, c.median, state))
            t += step
        slots.append(summary)
    return slots


def rollup_rows(plan: Plan, *, hours_until: int, detail_from: int) -> Iterator[tuple[str, int, Summary, bytes | None]]:
    """(check_id, hour_ms, hour summary, packed 5-minute detail or None) for the hours before
    `hours_until`; detail only from `detail_from` (older detail has expired)."""
    rng = random.Random(13)
    step = plan.interval_ms
    first_hour = plan.start_ms - plan.start_ms % HOUR_MS
    for c in plan.checks:
        templates = []
        for _ in range(TEMPLATES):
            slots = _hour_summaries(rng, c, 0, step, None)
            templates.append((Summary.merged(slots), encode_slots(slots)))
        cursor = [0]
        busy = [(a, b) for (a, _o, new, _w), (b, *_rest) in zip(c.changes, [*c.changes[1:], (plan.now_ms,)],
                                                                 strict=True) if new != "up"]
        b_i = 0
        for hour in range(first_hour, hours_until, HOUR_MS):
            while b_i < len(busy) and busy[b_i][1] <= hour:
                b_i += 1
            special = hour < c.changes[0][0] + HOUR_MS or (b_i < len(busy) and busy[b_i][0] < hour + HOUR_MS)
            if special:
                slots = _hour_summaries(rng, c, hour, step, cursor)
                if hour < c.changes[0][0]:  # before the check existed: no runs in the early slots
                    slots = [s if hour + i * 300_000 >= c.changes[0][0] else Summary() for i, s in enumerate(slots)]
                summary, blob = Summary.merged(slots), encode_slots(slots)
                if not summary.runs:
                    continue
            else:
                summary, blob = templates[rng.randrange(TEMPLATES)]
            yield c.id, hour, summary, blob if hour >= detail_from else None


# -- loading -----------------------------------------------------------------------------------------
def load(engine: Engine, plan: Plan, *, detail_days: float) -> dict[str, float]:
    """Seed everything; returns seconds per phase."""
    import time

    timings: dict[str, float] = {}
    t = time.perf_counter()
    with Session(engine) as s, s.begin():
        queries.sync_checks(s, checks=[{"id": c.id, "component": c.component, "name": c.id.split("/")[1],
                                         "kind": "http", "settings": {}} for c in plan.checks],
                            now=(plan.start_ms - 60_000) / 1000)
        # in time order, as the writer inserts them (the table's physical order follows)
        changes = sorted((ts, c.id, o, n, r) for c in plan.checks for ts, o, n, r in c.changes)
        s.execute(text("INSERT INTO state_changes (check_id, ts, old, new, reason) VALUES (:c, :t, :o, :n, :r)"),
                  [{"c": c, "t": ts, "o": o, "n": n, "r": r} for ts, c, o, n, r in changes])
        s.execute(text("INSERT INTO component_changes (component, ts, old, new, reason) VALUES (:c, :t, :o, :n, :r)"),
                  [{"c": c, "t": ts, "o": o, "n": n, "r": r}
                   for c, ts, o, n, r in sorted(component_changes(plan), key=lambda x: x[1])])
    timings["catalogue and state changes"] = time.perf_counter() - t
    hours_until = -(-plan.raw_from_ms // HOUR_MS) * HOUR_MS
    detail_from = plan.now_ms - int(detail_days * DAY_MS)
    postgres = engine.dialect.name == "postgresql"
    t = time.perf_counter()
    (_copy_rollups if postgres else _insert_rollups)(engine, rollup_rows(plan, hours_until=hours_until,
                                                                         detail_from=detail_from))
    with Session(engine) as s, s.begin():
        rollups.rebuild_days(s, start_ms=plan.start_ms, end_ms=hours_until)
    timings["rollups before the raw window"] = time.perf_counter() - t
    t = time.perf_counter()
    (_copy_raw if postgres else _insert_raw)(engine, raw_rows(plan))
    timings["raw results"] = time.perf_counter() - t
    return timings


def _sqlite_path(engine: Engine) -> str:
    return make_url(str(engine.url)).database


def _bulk_connection(engine: Engine) -> sqlite3.Connection:
    """A connection for loading: no journal (a failed seed is thrown away), a big cache."""
    engine.dispose()  # the pool's connections would keep the database in WAL mode
    con = sqlite3.connect(_sqlite_path(engine), isolation_level=None)
    con.execute("PRAGMA journal_mode=DELETE")
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-2000000")
    return con


def _insert_raw(engine: Engine, rows: Iterator[tuple[Any, ...]]) -> None:
    con = _bulk_connection(engine)
    con.execute("DROP INDEX ix_results_ts")
    batch: list[tuple[Any, ...]] = []
    con.execute("BEGIN")
    for row in rows:
        batch.append(row)
        if len(batch) >= 200_000:
            con.executemany("INSERT INTO results VALUES (?, ?, ?, ?, ?, ?)", batch)
            batch.clear()
    con.executemany("INSERT INTO results VALUES (?, ?, ?, ?, ?, ?)", batch)
    con.execute("COMMIT")
    con.execute("CREATE INDEX ix_results_ts ON results (ts)")
    con.execute("PRAGMA journal_mode=WAL")
    con.close()


def _hour_tuple(cid: str, hour: int, s: Summary) -> tuple[Any, ...]:
    return (cid, hour, s.runs, s.down, s.degraded, s.unknown, s.lat_sum, s.lat_max, *(b or None for b in s.bins))


def _insert_rollups(engine: Engine, rows: Iterator[tuple[str, int, Summary, bytes | None]]) -> None:
    con = _bulk_connection(engine)
    cols = ", ".join(["check_id", "bucket", "runs", "down", "degraded", "unknown", "lat_sum", "lat_max", *BIN_COLUMNS])
    marks = ", ".join("?" * (8 + len(BIN_COLUMNS)))
    con.execute("BEGIN")
    hours, details = [], []
    for cid, hour, summary, blob in rows:
        hours.append(_hour_tuple(cid, hour, summary))
        if blob is not None:
            details.append((cid, hour, blob))
        if len(hours) >= 100_000:
            con.executemany(f"INSERT INTO rollup_1h ({cols}) VALUES ({marks})", hours)
            con.executemany("INSERT INTO rollup_5m VALUES (?, ?, ?)", details)
            hours.clear()
            details.clear()
    con.executemany(f"INSERT INTO rollup_1h ({cols}) VALUES ({marks})", hours)
    con.executemany("INSERT INTO rollup_5m VALUES (?, ?, ?)", details)
    con.execute("COMMIT")
    con.execute("PRAGMA journal_mode=WAL")
    con.close()


def _psycopg(engine: Engine):
    import psycopg

    url = engine.url
    return psycopg.connect(host=url.host, port=url.port or 5432, user=url.username, password=url.password,
                           dbname=url.database)


def _copy_text(value: Any) -> str:
    return "\\N" if value is None else str(value)


def _copy_raw(engine: Engine, rows: Iterator[tuple[Any, ...]]) -> None:
    with _psycopg(engine) as con, con.cursor() as cur:
        cur.execute("ALTER TABLE results DROP CONSTRAINT results_pkey")
        cur.execute("DROP INDEX ix_results_ts")
        with cur.copy("COPY results (check_id, ts, status, latency, reason, details) FROM STDIN") as copy:
            buf = io.StringIO()
            for n, row in enumerate(rows):
                buf.write("\t".join(map(_copy_text, row)))
                buf.write("\n")
                if n % 100_000 == 99_999:
                    copy.write(buf.getvalue())
                    buf = io.StringIO()
            copy.write(buf.getvalue())
        cur.execute("SET maintenance_work_mem = '1GB'")
        cur.execute("ALTER TABLE results ADD CONSTRAINT results_pkey PRIMARY KEY (check_id, ts)")
        cur.execute("CREATE INDEX ix_results_ts ON results (ts)")
        con.commit()


def _copy_rollups(engine: Engine, rows: Iterator[tuple[str, int, Summary, bytes | None]]) -> None:
    cols = ", ".join(["check_id", "bucket", "runs", "down", "degraded", "unknown", "lat_sum", "lat_max", *BIN_COLUMNS])
    with _psycopg(engine) as con, con.cursor() as cur:
        details = []  # one COPY at a time per connection: the 5-minute rows go second
        with cur.copy(f"COPY rollup_1h ({cols}) FROM STDIN") as hours:
            for cid, hour, summary, blob in rows:
                hours.write_row(_hour_tuple(cid, hour, summary))
                if blob is not None:
                    details.append((cid, hour, blob))
        with cur.copy("COPY rollup_5m (check_id, bucket, detail) FROM STDIN") as copy:
            for row in details:
                copy.write_row(row)
        con.commit()

