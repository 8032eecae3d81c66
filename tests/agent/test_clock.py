"""The clock-offset estimator: NTP's midpoint, the shortest round trip of the last few, a dead band."""

from __future__ import annotations

import pytest

from monitor.agent.clock import DEAD_BAND, SAMPLES_KEPT, ClockOffset, sample


def test_offset_is_server_time_minus_the_midpoint_of_the_round_trip() -> None:
    s = sample(sent=100.0, server_time=130.5, received=101.0)
    assert s.round_trip == pytest.approx(1.0)
    assert s.offset == pytest.approx(30.0)


def test_the_shortest_round_trip_wins() -> None:
    clock = ClockOffset()
    clock.add(100.0, 130.5, 101.0)  # +30.0, round trip 1 s
    assert clock.offset == 30.0
    clock.add(200.0, 230.42, 200.04)  # +30.4, round trip 40 ms: more trustworthy
    assert clock.offset == 30.4
    clock.add(300.0, 335.0, 302.0)  # +34.0 but round trip 2 s: ignored
    assert clock.offset == 30.4


def test_dead_band_keeps_the_estimate_still() -> None:
    clock = ClockOffset()
    clock.add(0.0, 10.010, 0.020)  # +10.000
    clock.add(1.0, 11.017, 1.014)  # +10.010, a shorter round trip but not half: within the dead band
    assert clock.offset == 10.0
    clock.add(2.0, 12.012, 2.004)  # +10.010 from a round trip under half the estimate's: taken
    assert clock.offset == 10.01
    clock.add(3.0, 13.009, 3.004)  # +10.007, a round trip of 4 ms again: within the band
    assert clock.offset == 10.01
    clock.add(2.0, 12.5 + DEAD_BAND, 2.0)  # +10.52, round trip 0: beyond the band
    assert clock.offset == pytest.approx(10.5 + DEAD_BAND)


def test_old_samples_leave_the_window() -> None:
    clock = ClockOffset()
    clock.add(0.0, 5.0, 0.0)  # +5.0 with a perfect round trip
    for i in range(SAMPLES_KEPT):  # a stepped clock: the perfect sample ages out
        clock.add(10.0 + i, 10.0 + i + 0.05 - 2.0, 10.1 + i)
    assert clock.offset == pytest.approx(-2.0)


def test_correct_rounds_to_milliseconds_and_starts_at_the_initial_offset() -> None:
    clock = ClockOffset(initial=-1.23456)
    assert clock.offset == -1.235 and not clock.measured
    assert clock.correct(1000.0004) == 998.765
    clock.add(0.0, 0.0, 0.0)
    assert clock.measured and clock.offset == 0.0
