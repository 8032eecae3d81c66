"""Pure parts of the UI: state intervals, daily uptime, incidents, latency percentiles per bucket,
and the plotly figures built from them (escaped text, bands, one row per subject)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from dashboards import figures
from dashboards.intervals import Interval, daily_uptime, incidents, intervals, utc_days
from dashboards.latency import bucket_seconds, latency_series, percentile

T0 = datetime(2026, 3, 10, tzinfo=UTC).timestamp()  # a UTC midnight
H = 3600.0


def test_intervals_from_changes():
    changes = [(T0 + 2 * H, "down", "refused"), (T0 + 3 * H, "up", "HTTP 200")]
    spans = intervals(changes, initial=("up", "HTTP 200"), start=T0, end=T0 + 5 * H)
    assert spans == [Interval(T0, T0 + 2 * H, "up", "HTTP 200"), Interval(T0 + 2 * H, T0 + 3 * H, "down", "refused"),
                     Interval(T0 + 3 * H, T0 + 5 * H, "up", "HTTP 200")]
    # nothing known before the first change: that time is left out, not guessed
    assert intervals(changes, initial=None, start=T0, end=T0 + 4 * H)[0].start == T0 + 2 * H
    assert intervals([], initial=None, start=T0, end=T0 + H) == []


def test_daily_uptime_counts_down_against_known_time():
    spans = [Interval(T0 - 12 * H, T0 + 2 * H, "up"), Interval(T0 + 2 * H, T0 + 5 * H, "down"),
             Interval(T0 + 5 * H, T0 + 6 * H, "degraded"), Interval(T0 + 6 * H, T0 + 30 * H, "up")]
    now = T0 + 30 * H
    days = daily_uptime(spans, now=now, days=3)
    assert [d.date for d in days] == ["2026-03-09", "2026-03-10", "2026-03-11"]
    before, day, today = days
    assert before.seconds == {"nodata": 12 * H, "up": 12 * H} and before.uptime == 1.0 and before.worst == "up"
    assert day.seconds == {"up": 20 * H, "down": 3 * H, "degraded": H}
    assert day.uptime == pytest.approx(21 / 24) and day.worst == "down"
    assert today.seconds == {"up": 6 * H}  # today ends now: nothing counted after it
    assert daily_uptime([], now=now, days=1)[0].as_dict() == {
        "date": "2026-03-11", "uptime": None, "worst": "nodata", "seconds": {"nodata": 6 * H}}
    assert utc_days(now, 1) == [("2026-03-11", T0 + 24 * H, now)]


def test_incidents_merge_not_up_stretches_and_mark_the_ongoing_one():
    spans = [Interval(0, 10, "up"), Interval(10, 20, "degraded", "slow"), Interval(20, 30, "down", "refused"),
             Interval(30, 40, "up"), Interval(40, 45, "unknown"), Interval(45, 50, "down", "503")]
    found = incidents("paas", spans, ongoing_after=50)
    assert [(i.start, i.end, i.worst, i.reason) for i in found] == [(10, 30, "down", "slow"), (45, None, "down", "503")]
    assert incidents("paas", spans, ongoing_after=float("inf"))[-1].end == 50


def test_percentiles_and_buckets():
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([5.0], 99) == 5.0
    assert bucket_seconds(3600) == 30 and bucket_seconds(86400) == 900 and bucket_seconds(86400, min_step=1800) == 1800
    runs = [(T0 + i, 0.001 * (i % 10 + 1), "up") for i in range(600)] + [(T0 + 30.5, 2.0, "down")]
    s = latency_series("paas/api", runs, start=T0, end=T0 + 600)
    assert s.step == 10 and len(s.times) == 60 and s.counts[0] == 10 and s.counts[3] == 11
    assert s.p[50][0] == pytest.approx(0.0055) and s.p[99][3] > 1.0
    assert s.marked == [(T0 + 30.5, 2.0, "down")]


def test_latency_figure_has_bands_and_escapes_labels():
    runs = [(T0 + i * 60, 0.02, "up") for i in range(60)]
    fig = figures.latency_figure([latency_series("<b>x</b>/api", runs, start=T0, end=T0 + H)], start=T0, end=T0 + H)
    data = json.loads(fig.to_json())["data"]
    band = next(t for t in data if t.get("fill") == "tonexty")
    assert band["name"] == "p5-p95" and band["y"][0] == 20.0
    assert [t["name"] for t in data if t.get("name") in ("p50", "p99")] == ["p50", "p99"]
    shown = [t.get(k, "") for t in data for k in ("name", "hovertemplate", "hovertext", "text")]
    assert not [text for text in shown if "<b>x" in str(text)]
    assert any("&lt;b&gt;x&lt;/b&gt;/api" in str(text) for text in shown)


def test_timeline_figure_one_row_per_subject_and_escaped_reasons():
    rows = [("<i>paas</i>", [Interval(T0, T0 + H, "up"),
                             Interval(T0 + H, T0 + 2 * H, "down", "<script>alert(1)</script>")]),
            ("registry", [Interval(T0, T0 + 2 * H, "up")])]
    fig = json.loads(figures.timeline_figure(rows, start=T0, end=T0 + 2 * H, marker=T0 + H).to_json())
    by_state = {t["name"]: t for t in fig["data"]}
    assert by_state["up"]["y"] == ["&lt;i&gt;paas&lt;/i&gt;", "registry"]
    assert by_state["up"]["x"] == [3_600_000, 7_200_000]
    assert by_state["down"]["base"] == ["2026-03-10 01:00:00.000"]
    hover = json.dumps([t.get("hovertext") for t in fig["data"]])
    assert "&lt;script&gt;" in hover and "<script" not in hover and "<i>" not in hover
    assert fig["layout"]["yaxis"]["categoryarray"] == ["&lt;i&gt;paas&lt;/i&gt;", "registry"]
    assert fig["layout"]["shapes"][0]["x0"] == "2026-03-10 01:00:00.000"
