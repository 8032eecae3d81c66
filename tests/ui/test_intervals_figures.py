"""Pure parts of the UI: the latency series from a check's history, and the plotly figures built
from them (escaped text, bands, notes, one row per subject, maintenance marked)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from dashboards import figures
from dashboards.latency_series import latency_series
from dashboards.timeline_series import Interval, Maintenance
from storage.records import CheckHistory, HistoryPoint

T0 = datetime(2026, 3, 10, tzinfo=UTC).timestamp()  # a UTC midnight
H = 3600.0


def dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def history(points: list[HistoryPoint], resolution: str = "1h", step: float | None = 3600.0) -> CheckHistory:
    return CheckHistory(check_id="<b>x</b>/api", start=dt(T0), end=dt(T0 + 4 * H), resolution=resolution,
                        step_seconds=step, points=points, states=[])


def point(t: float, *, runs: int = 12, down: int = 0, p50: float | None = 0.02, p95: float | None = 0.05,
          **raw) -> HistoryPoint:
    return HistoryPoint(time=dt(t), runs=runs, up=runs - down, degraded=0, down=down, unknown=0, latency_mean=p50,
                        latency_p50=p50, latency_p95=p95, latency_max=0.09 if p95 else None, **raw)


def test_latency_series_from_rollups_and_raw_points():
    s = latency_series(history([point(T0), point(T0 + H, down=3), point(T0 + 2 * H, runs=0, p50=None, p95=None)]))
    assert s.times == [T0, T0 + H, T0 + 2 * H] and s.counts == [12, 12, 0]
    assert s.p50 == [0.02, 0.02, None] and s.p95 == [0.05, 0.05, None] and s.max[0] == 0.09
    assert s.marked == [(T0 + H, 0.09, "down", 3)]
    one = point(T0, runs=1, down=1, status="down", reason="refused", latency=2.0)
    raw = latency_series(history([one], "raw", None))
    assert raw.p50 == raw.p95 == raw.max == [2.0] and raw.marked == [(T0, 2.0, "down", 1)]


def test_latency_figure_has_bands_notes_and_escapes_labels():
    fig = figures.latency_figure([latency_series(history([point(T0), point(T0 + H)]))], start=T0, end=T0 + 4 * H)
    out = json.loads(fig.to_json())
    data = out["data"]
    band = next(t for t in data if t.get("fill") == "tonexty")
    assert band["name"] == "p50-p95" and band["y"][0] == 50.0
    assert [t["name"] for t in data if t.get("name") in ("p50", "max")] == ["p50", "max"]
    assert out["layout"]["meta"]["notes"] == ["hourly rollups, 1 h per point"]
    shown = [t.get(k, "") for t in data for k in ("name", "hovertemplate", "hovertext", "text")]
    assert not [text for text in shown if "<b>x" in str(text)]
    assert any("&lt;b&gt;x&lt;/b&gt;/api" in str(text) for text in shown)


def test_step_labels_read_as_people_say_them():
    assert [figures.step_text(s) for s in (1, 30, 60, 300, 900, 3600, 3 * H, 86400, 10 * 86400)] == [
        "1 s", "30 s", "1 min", "5 min", "15 min", "1 h", "3 h", "1 day", "10 days"]
    # not widths the backend picks, still readable
    assert [figures.step_text(s) for s in (2023, 90, 36 * H)] == ["33m 43s", "1m 30s", "1d 12h"]
    fig = figures.latency_figure([latency_series(history([point(T0)], "raw", 300.0))], start=T0, end=T0 + H)
    assert fig.layout.meta["notes"] == ["raw results, 5 min per point"]


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


def test_timeline_marks_maintenance_with_its_title_escaped():
    rows = [("paas", [Interval(T0, T0 + 2 * H, "up")])]
    found = [Maintenance("<b>swap</b>", T0 + H, T0 + 3 * H, ("paas",))]
    fig = json.loads(figures.timeline_figure(rows, start=T0, end=T0 + 2 * H, maintenance=found).to_json())
    [trace] = [t for t in fig["data"] if t["name"] == "maintenance"]
    assert trace["x"] == ["2026-03-10 01:00:00.000", "2026-03-10 02:00:00.000"]  # clipped to the range
    assert "&lt;b&gt;swap" in trace["hovertext"][0] and "<b>swap" not in json.dumps(fig)
    assert fig["layout"]["shapes"][0]["x0"] == "2026-03-10 01:00:00.000"
