"""The heartbeat judgement (probes/heartbeat.judge): pure, fixed instants, no mocks. Exact reasons
asserted, times in the check's zone; cron across DST changes."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from monitor.heartbeats import BODY_BYTES, TokenBucket, ping_body
from probes.base import Status
from probes.heartbeat import Check, Ping, judge, next_expected, span

TOKEN = "0123456789abcdef-backup"
SHANGHAI = ZoneInfo("Asia/Shanghai")
PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def check(**settings) -> Check:
    base = {"name": "etcd-backup", "component": "backups", "token": TOKEN}
    if "period" not in settings:
        base["schedule"] = "0 2 * * *"
    return Check(**{**base, **settings})


def at(zone: ZoneInfo, *parts: int) -> float:
    return datetime(*parts, tzinfo=zone).timestamp()


def pings(*items: tuple[str, float] | tuple[str, float, int | None, str]) -> list[Ping]:
    """Oldest first in, newest first out (as storage returns them)."""
    out = []
    for i, item in enumerate(items):
        kind, t, *rest = item
        out.append(Ping(i + 1, t, kind, *rest))
    return out[::-1]


def test_waiting_for_the_first_ping():
    assert judge(check(), [], at(SHANGHAI, 2026, 12, 1, 3, 0)).status == Status.UNKNOWN
    assert judge(check(), [], 0).reason == "waiting for the first ping"


def test_a_success_is_up_with_its_run_time_as_the_duration():
    cfg = check(timezone="Asia/Shanghai", grace="30m")
    start, done = at(SHANGHAI, 2026, 12, 1, 2, 0, 52), at(SHANGHAI, 2026, 12, 1, 2, 4, 4)
    verdict = judge(cfg, pings(("start", start), ("success", done)), at(SHANGHAI, 2026, 12, 1, 9, 0))
    assert (verdict.status, verdict.reason) == (Status.UP, "last ping 02:04 CST, ran 3m12s")
    assert verdict.duration == pytest.approx(192.0)
    assert verdict.finish.time == done
    # a finish with no start before it: up, no duration
    verdict = judge(cfg, pings(("success", done)), at(SHANGHAI, 2026, 12, 1, 9, 0))
    assert (verdict.reason, verdict.duration) == ("last ping 02:04 CST", None)


def test_late_past_grace_is_down_naming_the_last_ping_and_the_deadline():
    cfg = check(timezone="Asia/Shanghai", grace="30m")
    last = pings(("success", at(SHANGHAI, 2026, 12, 1, 2, 3)))
    # due at 02:00 the next day, tolerated until 02:30
    assert judge(cfg, last, at(SHANGHAI, 2026, 12, 2, 2, 29, 59)).status == Status.UP
    verdict = judge(cfg, last, at(SHANGHAI, 2026, 12, 2, 2, 30, 1))
    assert verdict.status == Status.DOWN
    assert verdict.reason == "no ping since 2026-12-01 02:03 CST; expected by 02:30"
    assert verdict.finish is None  # the state is not the last run's outcome: nothing to report


def test_a_period_instead_of_a_schedule():
    cfg = check(period="1h", grace="5m")
    last = pings(("success", at(ZoneInfo("UTC"), 2026, 12, 1, 10, 0)))
    assert judge(cfg, last, at(ZoneInfo("UTC"), 2026, 12, 1, 11, 4)).status == Status.UP
    assert judge(cfg, last, at(ZoneInfo("UTC"), 2026, 12, 1, 11, 6)).reason == \
        "no ping since 10:00 UTC; expected by 11:05"


def test_fail_and_exit_status_are_down_with_the_first_line_of_the_body():
    cfg = check(timezone="Asia/Shanghai")
    now = at(SHANGHAI, 2026, 12, 1, 3, 0)
    t = at(SHANGHAI, 2026, 12, 1, 2, 4)
    verdict = judge(cfg, pings(("fail", t, 3, "\n  tar: /var/lib/etcd: Cannot open\nmore\n")), now)
    assert verdict.status == Status.DOWN
    assert verdict.reason == "exit status 3 at 02:04 CST: tar: /var/lib/etcd: Cannot open"
    assert judge(cfg, pings(("fail", t)), now).reason == "failed at 02:04 CST"
    long_line = "x" * 500
    assert judge(cfg, pings(("fail", t, 1, long_line)), now).reason == f"exit status 1 at 02:04 CST: {'x' * 119}…"
    # exit status 0 is stored as a success and judged as one
    assert judge(cfg, pings(("success", t, 0, "")), now).status == Status.UP
    # a success after a failure is up again
    assert judge(cfg, pings(("fail", t - 60, 2, ""), ("success", t)), now).status == Status.UP


def test_a_start_not_finished_within_max_runtime_is_down():
    cfg = check(timezone="Asia/Shanghai", max_runtime="2h", grace="30m")
    prior = ("success", at(SHANGHAI, 2026, 11, 30, 2, 5))
    started = ("start", at(SHANGHAI, 2026, 12, 1, 2, 0))
    running = judge(cfg, pings(prior, started), at(SHANGHAI, 2026, 12, 1, 3, 59))
    # past its cron deadline (02:30) but within max_runtime: running, not late
    assert running.status == Status.UP
    assert running.reason == "last ping 2026-11-30 02:05 CST; running since 02:00 CST"
    verdict = judge(cfg, pings(prior, started), at(SHANGHAI, 2026, 12, 1, 4, 0, 1))
    assert (verdict.status, verdict.reason) == (Status.DOWN, "started 02:00 CST, not finished after 2h")
    # max_runtime defaults to grace
    verdict = judge(check(timezone="Asia/Shanghai", grace="30m"), pings(prior, started),
                    at(SHANGHAI, 2026, 12, 1, 2, 31))
    assert verdict.reason == "started 02:00 CST, not finished after 30m"
    # a first run that has only started: not judged yet
    first = judge(cfg, pings(started), at(SHANGHAI, 2026, 12, 1, 2, 10))
    assert (first.status, first.reason) == (Status.UNKNOWN, "first run started 02:00 CST, not finished yet")


def test_duration_is_from_the_start_of_the_same_run():
    cfg = check(period="1h")
    # start, success, success: the second success had no start of its own
    verdict = judge(cfg, pings(("start", 1000.0), ("success", 1100.0), ("success", 1200.0)), 1300.0)
    assert verdict.duration is None
    verdict = judge(cfg, pings(("start", 1000.0), ("start", 1050.0), ("success", 1200.0)), 1300.0)
    assert verdict.duration == 150.0


def test_cron_in_a_time_zone_across_dst_changes():
    # Paris springs forward on 2026-03-29 (02:00 → 03:00): a 09:00 job is due 23 h after the last
    paris = check(schedule="0 9 * * *", timezone="Europe/Paris", grace="10m")
    last = at(PARIS, 2026, 3, 28, 9, 1)
    assert next_expected(paris, last) == at(PARIS, 2026, 3, 29, 9, 0)
    assert next_expected(paris, last) - last == 23 * 3600 - 60
    verdict = judge(paris, pings(("success", last)), at(PARIS, 2026, 3, 29, 9, 11))
    assert verdict.reason == "no ping since 2026-03-28 09:01 CET; expected by 09:10 CEST"
    assert judge(paris, pings(("success", last)), at(PARIS, 2026, 3, 29, 9, 9)).status == Status.UP
    # New York falls back on 2026-11-01 (02:00 → 01:00): a 03:00 job is due 25 h after the last
    york = check(schedule="0 3 * * *", timezone="America/New_York", grace="5m")
    last = at(NEW_YORK, 2026, 10, 31, 3, 0)
    assert next_expected(york, last) - last == 25 * 3600
    verdict = judge(york, pings(("success", last)), at(NEW_YORK, 2026, 11, 1, 3, 6))
    assert verdict.reason == "no ping since 2026-10-31 03:00 EDT; expected by 03:05 EST"
    # a job in the skipped hour (02:30 does not exist on 2026-03-29 in Paris) runs once, at 03:00
    skipped = check(schedule="30 2 * * *", timezone="Europe/Paris")
    assert next_expected(skipped, at(PARIS, 2026, 3, 28, 2, 30)) == at(PARIS, 2026, 3, 29, 3, 0)
    # Shanghai has no DST: always 24 h
    shanghai = check(timezone="Asia/Shanghai")
    assert next_expected(shanghai, at(SHANGHAI, 2026, 3, 28, 2, 0)) == at(SHANGHAI, 2026, 3, 29, 2, 0)


def test_settings_are_validated():
    with pytest.raises(ValidationError, match="at least 16"):
        check(token="short")
    with pytest.raises(ValidationError, match="pattern"):
        check(token="0123456789abcdef/../x")
    with pytest.raises(ValidationError, match="exactly one of schedule"):
        check(period="1h", schedule="0 2 * * *")
    with pytest.raises(ValidationError, match="exactly one of schedule"):
        Check(name="a", component="b", token=TOKEN)
    with pytest.raises(ValidationError, match="schedule '61 2 \\* \\* \\*'"):
        check(schedule="61 2 * * *")
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        check(timezone="Mars/Olympus")
    assert check().secret_fields == {"token"}


def test_span_and_body_and_bucket():
    assert [span(s) for s in (45, 192, 7500, 97200)] == ["45s", "3m12s", "2h5m", "1d3h"]
    # the body: first 10 KB, UTF-8 with bad bytes replaced, a character cut at the limit dropped
    assert ping_body(b"ok \xff\x00 done") == "ok \ufffd\ufffd done"
    cut = ping_body(b"a" * (BODY_BYTES - 1) + "é".encode() + b"tail")
    assert cut == "a" * (BODY_BYTES - 1)
    bucket = TokenBucket(burst=2, refill=6.0, tokens=2, at=100.0)
    assert [bucket.take(100.0), bucket.take(100.0)] == [0.0, 0.0]
    assert bucket.take(101.0) == pytest.approx(5.0)
    assert bucket.take(106.0) == 0.0
