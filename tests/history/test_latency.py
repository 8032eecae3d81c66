"""The latency summary: bins, merging, percentiles against exact ones, the packed 5-minute form."""

from __future__ import annotations

import random

import pytest

from storage.latency import BOUNDS, NBINS, Summary, bin_index, decode_slots, encode_slots


def exact_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered)) - 1))]


def test_bins_are_log_scale_with_two_per_doubling():
    assert BOUNDS[0] == pytest.approx(0.001) and BOUNDS[-1] == pytest.approx(65.536)
    assert NBINS == 34
    assert bin_index(0.0) == 0 and bin_index(0.0009) == 0
    assert bin_index(0.001) == 1  # a bound belongs to the bin it starts
    assert bin_index(0.0015) == 2 and bin_index(0.002) == 3
    assert bin_index(100.0) == NBINS - 1


def test_counts_by_status_and_latency_only_of_answers():
    s = Summary()
    for status, latency in [("up", 0.1), ("up", 0.2), ("degraded", 1.0), ("down", 10.0), ("unknown", None)]:
        s.add(status, latency)
    assert (s.runs, s.up, s.degraded, s.down, s.unknown) == (5, 2, 1, 1, 1)
    assert s.latency_count == 3  # the down run's 10 s is how long it took to fail, not a latency
    assert s.lat_max == 1.0 and s.latency_mean == pytest.approx(1.3 / 3)


@pytest.mark.parametrize("sigma", [0.1, 0.2, 0.8, 1.5])
def test_percentiles_are_close_to_the_exact_ones(sigma):
    rng = random.Random(1)
    values = [rng.lognormvariate(-3, sigma) for _ in range(5000)]
    s = Summary()
    for v in values:
        s.add("up", v)
    for q in (0.5, 0.95, 0.99):
        # a bin spans a factor √2; interpolating inside it is within ~12 % on such latencies
        assert s.percentile(q) == pytest.approx(exact_quantile(values, q), rel=0.13)
    assert s.percentile(1.0) == pytest.approx(max(values))
    assert s.percentile(0.95) <= s.lat_max


def test_percentile_edge_cases():
    assert Summary().percentile(0.5) is None
    one = Summary()
    one.add("up", 0.123)
    assert one.percentile(0.5) == one.percentile(0.95) == 0.123
    tiny = Summary()
    for v in (0.0001, 0.0002, 0.0003, 0.0004):
        tiny.add("up", v)
    assert 0 < tiny.percentile(0.5) <= 0.0004  # the first bin starts at 0
    slow = Summary()
    for v in (70.0, 80.0, 90.0, 100.0):
        slow.add("up", v)
    assert 65.5 < slow.percentile(0.5) < slow.percentile(0.95) <= 100.0  # the open-ended last bin


def test_merging_equals_counting_everything_at_once():
    rng = random.Random(2)
    parts, whole = [Summary() for _ in range(7)], Summary()
    for _ in range(700):
        status = rng.choice(["up", "up", "up", "degraded", "down", "unknown"])
        latency = rng.lognormvariate(-2, 1)
        rng.choice(parts).add(status, latency)
        whole.add(status, latency)
    merged = Summary.merged(parts)
    assert (merged.runs, merged.down, merged.degraded, merged.unknown, merged.bins, merged.lat_max) == (
        whole.runs, whole.down, whole.degraded, whole.unknown, whole.bins, whole.lat_max)
    assert merged.lat_sum == pytest.approx(whole.lat_sum)
    assert merged.percentile(0.95) == pytest.approx(whole.percentile(0.95))


def test_columns_round_trip_with_empty_bins_as_null():
    s = Summary()
    s.add("up", 0.05)
    s.add("down", 3.0)
    cols = s.columns()
    assert cols["h00"] is None and cols[f"h{bin_index(0.05):02d}"] == 1

    class Row:
        pass

    row = Row()
    row.__dict__.update(cols)
    back = Summary.from_columns(row)
    assert (back.runs, back.down, back.bins, back.lat_max) == (2, 1, s.bins, 0.05)


def test_twelve_slots_pack_and_unpack():
    rng = random.Random(3)
    slots: list[Summary | None] = []
    for i in range(12):
        if i == 4:
            slots.append(None)  # no runs in that 5 minutes
            continue
        s = Summary()
        for _ in range(rng.randrange(1, 400)):  # counts above 127 take a second varint byte
            s.add(rng.choice(["up", "degraded", "down", "unknown"]), rng.lognormvariate(-3, 1))
        slots.append(s)
    slots.append(Summary())  # empty is the same as None
    data = encode_slots(slots[:12])
    back = decode_slots(data)
    assert back[4] is None and len(back) == 12
    for mine, theirs in zip(slots[:12], back, strict=True):
        if mine is None:
            continue
        assert (theirs.runs, theirs.down, theirs.degraded, theirs.unknown, theirs.bins) == (
            mine.runs, mine.down, mine.degraded, mine.unknown, mine.bins)
        assert theirs.lat_sum == pytest.approx(mine.lat_sum, abs=5e-7)  # whole microseconds
        assert theirs.lat_max == pytest.approx(mine.lat_max, abs=5e-7)
    only_down = Summary()
    only_down.add("down", 10.0)
    assert decode_slots(encode_slots([only_down]))[0].lat_max is None
    with pytest.raises(ValueError, match="encoding"):
        decode_slots(b"\x09")


def test_an_hour_at_30s_packs_small():
    """12 slots of 10 runs each, latencies ~12 ms: under 200 bytes (version 1 took ~265)."""
    rng = random.Random(8)
    slots = []
    for _ in range(12):
        s = Summary()
        for _ in range(10):
            s.add("up", round(rng.lognormvariate(-4.4, 0.3), 6))
        slots.append(s)
    data = encode_slots(slots)
    assert len(data) < 200, len(data)
    assert [(b.runs, b.bins, round(b.lat_sum, 6), b.lat_max) for b in decode_slots(data)] == [
        (s.runs, s.bins, round(s.lat_sum, 6), s.lat_max) for s in slots]


def test_version_1_values_are_still_read():
    import struct

    data = bytearray([1])
    data += struct.pack("<Bff", 3, 0.25, 0.125)  # slot 3: sum, max
    data += bytes([5, 1, 0, 0])  # runs, down, degraded, unknown
    data += bytes([2, 10, 3, 12, 1])  # two bins: 3 in h10, 1 in h12
    data += struct.pack("<Bff", 7, 0.0, float("nan"))  # slot 7: all down, no latency
    data += bytes([2, 2, 0, 0, 0])
    slots = decode_slots(bytes(data))
    assert [i for i, s in enumerate(slots) if s] == [3, 7]
    assert (slots[3].runs, slots[3].down, slots[3].lat_sum, slots[3].lat_max) == (5, 1, 0.25, 0.125)
    assert slots[3].bins[10] == 3 and slots[3].bins[12] == 1 and sum(slots[3].bins) == 4
    assert (slots[7].runs, slots[7].down, slots[7].lat_max) == (2, 2, None)
