"""Plotly figures of the UI, built in Python from query results and sent as JSON to plotly.js:
the latency chart with percentile bands, state timelines, the incident timeline. No I/O here.
Text from targets (reasons) is HTML-escaped: plotly renders a subset of HTML in labels. Words come
in the reader's language (`said`), times on the axes as the wall clock of the page's zone (`tz`:
plotly.js has no time zones), named in the axis title."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo

import plotly.graph_objects as go

from dashboards.i18n import Words, words
from dashboards.latency_series import LatencySeries
from dashboards.timeline_series import Incident, Interval, Maintenance

__all__ = ["STATE_COLOURS", "incidents_figure", "latency_figure", "step_text", "timeline_figure"]

# Okabe-Ito: told apart with every common colour-vision deficiency; the UI also labels each state.
STATE_COLOURS = {"up": "#009E73", "degraded": "#E69F00", "down": "#D55E00", "unknown": "#8C8C8C"}
MAINTENANCE_COLOUR = "#56B4E9"  # Okabe-Ito sky blue: no state uses it
SERIES_COLOURS = ("#0072B2", "#CC79A7", "#56B4E9", "#009E73", "#E69F00", "#000000", "#D55E00", "#F0E442")
ROW_HEIGHT = 22  # pixels per timeline row
CHART_HEIGHT = 340  # pixels
REASON_CHARS = 160  # of a reason shown in a hover label
_STATE_ORDER = ("down", "degraded", "unknown", "up")
TICK_FORMATS = [  # numeric dates and a 24-hour clock at every zoom: no month names in one language only
    {"dtickrange": [None, 60_000], "value": "%H:%M:%S"},
    {"dtickrange": [60_000, 86_400_000], "value": "%H:%M\n%Y-%m-%d"},
    {"dtickrange": [86_400_000, None], "value": "%Y-%m-%d"},
]


ENGLISH = words("en")


def _t(ts: float, tz: tzinfo = UTC) -> str:
    """Unix seconds → the naive text of the wall clock in `tz`, which plotly.js reads as a date."""
    return datetime.fromtimestamp(ts, tz=tz).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _state(said: Words, state: str) -> str:
    return {"up": said._("up"), "degraded": said._("degraded"), "down": said._("down"),
            "unknown": said._("unknown")}.get(state, state)


def _resolution(said: Words, resolution: str) -> str:
    return {"raw": said._("raw results"), "5m": said._("5-minute rollups"), "1h": said._("hourly rollups"),
            "1d": said._("daily rollups")}.get(resolution, resolution)


def _text(value: str, limit: int = REASON_CHARS) -> str:
    value = value if len(value) <= limit else value[: limit - 1] + "…"
    return html.escape(value, quote=False)


def _duration(seconds: float, said: Words = ENGLISH) -> str:
    seconds = round(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    d, h, m, s = said._("d"), said._("h"), said._("m"), said._("s")
    parts = [f"{days}{d}" if days else "", f"{hours}{h}" if hours else "", f"{minutes}{m}" if minutes else ""]
    text = " ".join(p for p in parts if p)
    return text if days or hours else (f"{text} {secs}{s}".strip() if secs or not text else text)


def step_text(seconds: float, said: Words = ENGLISH) -> str:
    """A series' point width as people say it: "30 s", "5 min", "1 h", "1 day", "10 days"
    (the backend picks round widths); anything else as a duration ("1m 30s")."""
    for unit, size, below in (("day", 86400, None), ("h", 3600, 24), ("min", 60, 60), ("s", 1, 60)):
        n = seconds / size
        if n >= 1 and n == int(n) and (below is None or n < below):
            count = int(n)
            if unit == "day":
                return said.n_("%(n)d day", "%(n)d days", count)
            return said._("%(n)d h", n=count) if unit == "h" else (
                said._("%(n)d min", n=count) if unit == "min" else said._("%(n)d s", n=count))
    return _duration(seconds, said)


def _base_layout(fig: go.Figure, *, start: float, end: float, height: int, tz: tzinfo) -> None:
    fig.update_layout(
        template="none",
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 40},
        font={"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 12},
        legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        hoverlabel={"align": "left"},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
    )
    fig.update_xaxes(type="date", range=[_t(start, tz), _t(end, tz)], title_text=str(tz), automargin=True,
                     tickformatstops=TICK_FORMATS, hoverformat="%Y-%m-%d %H:%M:%S",
                     showgrid=True, gridcolor="rgba(128,128,128,0.2)")
    fig.update_yaxes(automargin=True, showgrid=True, gridcolor="rgba(128,128,128,0.2)")


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def latency_figure(
    series: Sequence[LatencySeries], *, start: float, end: float, notes: Sequence[str] = (), tz: tzinfo = UTC,
    said: Words = ENGLISH,
) -> go.Figure:
    """Per check: the median line over a p50 to p95 band, the slowest run dotted (with one check
    only), and points with runs that were not up as markers. Milliseconds on the y axis."""
    fig = go.Figure()
    single = len(series) == 1
    legend_done: set[str] = set()  # states whose marker already has a legend entry
    for i, s in enumerate(series):
        colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
        x = [_t(t, tz) for t in s.times]
        p50, p95, top = (_ms(v) for v in (s.p50, s.p95, s.max))
        label = "p50" if single else s.check_id
        group = s.check_id
        fig.add_trace(go.Scatter(x=x, y=p50, mode="lines", line={"width": 0}, legendgroup=group,
                                 showlegend=False, hoverinfo="skip", connectgaps=False))
        fig.add_trace(go.Scatter(
            x=x, y=p95, mode="lines", line={"width": 0}, fill="tonexty", fillcolor=_rgba(colour, 0.18),
            legendgroup=group, name="p50-p95" if single else f"{s.check_id} p50-p95", showlegend=single,
            customdata=s.counts, connectgaps=False,
            hovertemplate="p95 %{y:.1f} ms · %{customdata} " + said._("runs") + "<extra></extra>",
        ))
        fig.add_trace(go.Scatter(x=x, y=p50, mode="lines", line={"color": colour, "width": 2},
                                 legendgroup=group, name=_text(label), connectgaps=False,
                                 hovertemplate="p50 %{y:.1f} ms<extra>" + _text(s.check_id, 60) + "</extra>"))
        if single:
            fig.add_trace(go.Scatter(x=x, y=top, mode="lines", name=said._("max"), connectgaps=False,
                                     line={"color": colour, "width": 1, "dash": "dot"},
                                     hovertemplate=said._("max") + " %{y:.1f} ms<extra></extra>"))
        _marked_runs(fig, s, legend_done, tz, said)
    if series:
        first = series[0]
        per_point = (said._("%(step)s per point", step=step_text(first.step, said)) if first.step
                     else said._("one point per run"))
        notes = [f"{_resolution(said, first.resolution)}, {per_point}", *notes]
    _base_layout(fig, start=start, end=end, height=CHART_HEIGHT, tz=tz)
    fig.update_yaxes(title_text=said._("latency (ms)"), rangemode="tozero")
    fig.update_layout(hovermode="x unified", meta={"notes": list(notes)})
    return fig


def _ms(values: Sequence[float | None]) -> list[float | None]:
    return [None if v is None else round(v * 1000, 3) for v in values]


def _marked_runs(fig: go.Figure, s: LatencySeries, legend_done: set[str], tz: tzinfo, said: Words) -> None:
    for state in ("down", "degraded", "unknown"):
        runs = [m for m in s.marked if m[2] == state]
        if not runs:
            continue
        show_legend = state not in legend_done
        legend_done.add(state)
        fig.add_trace(go.Scatter(
            x=[_t(m[0], tz) for m in runs], y=[round((m[1] or 0) * 1000, 3) for m in runs], mode="markers",
            marker={"color": STATE_COLOURS[state], "symbol": "x" if state == "down" else "diamond", "size": 7},
            name=said._("%(state)s runs", state=_state(said, state)), legendgroup=f"{state} runs",
            showlegend=show_legend, customdata=[m[3] for m in runs],
            hovertemplate="%{customdata} " + said._("%(state)s run(s)", state=_state(said, state))
            + " · %{y:.1f} ms<extra></extra>",
        ))


def timeline_figure(
    rows: Sequence[tuple[str, Sequence[Interval]]], *, start: float, end: float, marker: float | None = None,
    notes: Sequence[str] = (), maintenance: Sequence[Maintenance] = (), tz: tzinfo = UTC, said: Words = ENGLISH,
) -> go.Figure:
    """One row per (label, intervals), top to bottom, a bar per interval coloured by state (one
    trace per state so the legend names them). `marker` draws a vertical line (replay instant);
    maintenance occurrences are hatched spans across all rows, named in the legend and on hover."""
    fig = go.Figure()
    labels = [_text(label, 200) for label, _ in rows]  # tick labels are rendered as (pseudo-)HTML too
    for state in _STATE_ORDER:
        xs, bases, ys, hover = [], [], [], []
        for label, (_, spans) in zip(labels, rows, strict=True):
            for span in spans:
                if span.state != state:
                    continue
                xs.append(round((span.end - span.start) * 1000))
                bases.append(_t(span.start, tz))
                ys.append(label)
                hover.append(
                    f"{label}<br>" + said._("%(state)s for %(duration)s", state=_state(said, state),
                                             duration=_duration(span.end - span.start, said))
                    + f"<br>{_t(span.start, tz)[:19]} → {_t(span.end, tz)[:19]} {tz}"
                    + (f"<br>{_text(span.reason)}" if span.reason else "")
                )
        fig.add_trace(go.Bar(
            x=xs, base=bases, y=ys, orientation="h", name=_state(said, state), marker={"color": STATE_COLOURS[state]},
            hovertext=hover, hoverinfo="text", showlegend=True, width=0.7,
        ))
    height = max(120, 70 + ROW_HEIGHT * len(labels))
    _base_layout(fig, start=start, end=end, height=height, tz=tz)
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=labels, autorange="reversed",
                     showgrid=False)
    fig.update_layout(barmode="overlay", bargap=0.2, hovermode="closest", meta={"notes": list(notes)})
    _maintenance(fig, maintenance, labels, start=start, end=end, tz=tz, said=said)
    if marker is not None:
        fig.add_shape(type="line", x0=_t(marker, tz), x1=_t(marker, tz), yref="paper", y0=0, y1=1,
                      line={"color": "#0072B2", "width": 2})
    return fig


def _maintenance(fig: go.Figure, found: Sequence[Maintenance], labels: Sequence[str], *, start: float,
                 end: float, tz: tzinfo, said: Words) -> None:
    """Each occurrence: a hatched band behind the bars, and a trace over it (legend entry, hover
    with the window's title and times)."""
    for i, m in enumerate(found):
        a, b = max(m.start, start), min(m.end, end)
        if b <= a:
            continue
        fig.add_vrect(x0=_t(a, tz), x1=_t(b, tz), layer="below", line_width=0, fillcolor=MAINTENANCE_COLOUR,
                      opacity=0.35)
        hover = (said._("maintenance: %(name)s", name=_text(m.name, 120))
                 + f"<br>{_t(m.start, tz)[:16]} → {_t(m.end, tz)[:16]} {tz}")
        fig.add_trace(go.Scatter(
            x=[_t(a, tz), _t(b, tz)], y=[labels[0], labels[0]] if labels else [None, None], mode="lines",
            line={"color": MAINTENANCE_COLOUR, "width": 6, "dash": "dot"}, name=said._("maintenance"),
            legendgroup="maintenance", showlegend=i == 0, hovertext=[hover, hover], hoverinfo="text",
        ))


def incidents_figure(found: Sequence[Incident], *, start: float, end: float, now: float, tz: tzinfo = UTC,
                     said: Words = ENGLISH) -> go.Figure:
    """One row per component with incidents, one bar per incident coloured by its worst state."""
    components = sorted({i.component for i in found})
    rows = [
        (c, [Interval(max(i.start, start), min(i.end if i.end is not None else now, end), i.worst,
                      said.n_("%(n)d check involved", "%(n)d checks involved", len(i.checks)))
                  for i in found if i.component == c])
        for c in components
    ]
    return timeline_figure(rows, start=start, end=end, tz=tz, said=said)
