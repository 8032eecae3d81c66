"""The packed-results codec: any hour of results survives encode → decode unchanged."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from storage import packing

HOUR = 1_772_409_600_000  # an hour start (ms)

details = st.one_of(
    st.none(),
    st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=8),
                                                   st.dictionaries(st.text(max_size=4), st.integers(), max_size=3)),
                    max_size=4),
)
result = st.builds(
    packing.Packed,
    ts_ms=st.integers(HOUR, HOUR + 3_599_999),
    status=st.sampled_from(["up", "down", "degraded", "unknown"]),
    latency=st.one_of(st.none(), st.floats(min_value=0, max_value=1e6, allow_nan=False)),
    reason=st.text(max_size=40),
    details=details,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(result, max_size=150, unique_by=lambda r: r.ts_ms))
def test_round_trip(results):
    blob = packing.encode(results, base_ms=HOUR)
    assert packing.decode(blob, base_ms=HOUR) == sorted(results, key=lambda r: r.ts_ms)


def test_an_hour_at_30s_is_small():
    results = [packing.Packed(HOUR + i * 30_000 + 7, "up", round(0.05 + (i * 37 % 100) / 10_000, 6), "HTTP 200",
                              {"status_code": 200}) for i in range(120)]
    blob = packing.encode(results, base_ms=HOUR)
    assert len(blob) / len(results) < 8  # bytes per result: the latencies are most of it
