"""The packed-results codec: any hour of results survives encode → decode unchanged, whichever
column falls back from µs integers to JSON; blobs of format 1 stay readable."""

from __future__ import annotations

import json
import random
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from storage import packing

HOUR = 1_772_409_600_000  # an hour start (ms)

leaf = st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=8), st.booleans(), st.none(),
                 st.floats(-1e4, 1e4).map(lambda f: round(f, 6)))
details = st.one_of(
    st.none(),
    st.dictionaries(st.text(max_size=8), st.one_of(leaf, st.dictionaries(st.text(max_size=4), leaf, max_size=3),
                                                   st.lists(leaf, max_size=3)), max_size=4),
)
result = st.builds(
    packing.Packed,
    ts_ms=st.integers(HOUR, HOUR + 3_599_999),
    status=st.sampled_from(["up", "down", "degraded", "unknown"]),
    latency=st.one_of(st.none(), st.floats(min_value=0, max_value=1e6, allow_nan=False),
                      st.floats(0, 120).map(lambda f: round(f, 6))),
    reason=st.text(max_size=40),
    details=details,
)


def _same(a: list[packing.Packed], b: list[packing.Packed]) -> None:
    assert a == b
    for x, y in zip(a, b, strict=True):  # == says 0.0 == -0.0 and 1 == 1.0 == True: compare the JSON too
        assert json.dumps([x.latency, x.details], sort_keys=True) == json.dumps([y.latency, y.details], sort_keys=True)


@settings(max_examples=300, deadline=None)
@given(st.lists(result, max_size=150, unique_by=lambda r: r.ts_ms), st.integers(HOUR - 1, HOUR + 3_600_000))
def test_round_trip(results, at):
    blob = packing.encode(results, base_ms=HOUR)
    ordered = sorted(results, key=lambda r: r.ts_ms)
    _same(packing.decode(blob, base_ms=HOUR), ordered)
    light = packing.decode(blob, base_ms=HOUR, details=False)
    assert light == [packing.Packed(r.ts_ms, r.status, r.latency, r.reason, None) for r in ordered]
    before = [r for r in ordered if r.ts_ms <= at]
    assert packing.last_at(blob, base_ms=HOUR, at_ms=at, details=True) == (before[-1] if before else None)
    assert packing.last_at(blob, base_ms=HOUR, at_ms=None) == (
        packing.Packed(ordered[-1].ts_ms, ordered[-1].status, ordered[-1].latency, ordered[-1].reason, None)
        if ordered else None)


def _tcp_hour(rng: random.Random) -> list[packing.Packed]:
    out = []
    for i in range(120):
        latency = round(rng.lognormvariate(-4.4, 0.3), 6)  # ~12 ms
        out.append(packing.Packed(HOUR + i * 30_000 + 7 + rng.randrange(3), "up", latency, "connected",
                                  {"phases": {"connect": round(latency * 0.97, 6)}}))
    return out


def test_an_hour_of_tcp_runs_is_small():
    """120 runs with a µs latency and a µs connect phase each: the two timings are the bulk, and
    about two bytes apiece (13 bits of entropy each) is what is left to pay."""
    results = _tcp_hour(random.Random(4))
    blob = packing.encode(results, base_ms=HOUR)
    assert len(blob) / len(results) < 6, len(blob)  # format 1 took 10.3


def test_format_1_blobs_are_still_read():
    results = _tcp_hour(random.Random(5))
    statuses, reasons, details = ["up"], ["connected"], []
    keys: dict[str, int] = {}
    for r in results:
        keys.setdefault(json.dumps(r.details, sort_keys=True), len(details))
        if len(details) < len(keys):
            details.append(r.details)
    doc = {"v": 1, "t": [r.ts_ms - p for r, p in zip(results, [HOUR] + [r.ts_ms for r in results], strict=False)],
           "s": statuses, "si": [0] * 120, "l": [r.latency for r in results], "r": reasons, "ri": [0] * 120,
           "d": details, "di": [keys[json.dumps(r.details, sort_keys=True)] for r in results]}
    blob = zlib.compress(json.dumps(doc).encode())
    assert packing.decode(blob, base_ms=HOUR) == results
    assert packing.last_at(blob, base_ms=HOUR, at_ms=HOUR + 45_000) == packing.Packed(
        results[1].ts_ms, "up", results[1].latency, "connected", None)
