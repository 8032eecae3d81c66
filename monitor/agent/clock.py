"""The agent's estimate of its clock's offset from the centre's, NTP's way. Pure: samples in,
an offset out; no clock, no I/O (the caller reads its own time around each request)."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

SAMPLES_KEPT = 8  # the last answers considered: a stepped clock is followed within a few pushes
DEAD_BAND = 0.020
"""Seconds a new best sample must differ from the estimate to replace it: round trips vary by
milliseconds, and results should not carry that jitter from one push to the next."""


@dataclass(frozen=True, slots=True)
class Sample:
    round_trip: float  # seconds between sending the request and reading its answer
    offset: float  # the centre's clock minus ours at the middle of that round trip


def sample(sent: float, server_time: float, received: float) -> Sample:
    """One answer's estimate: the centre read its clock half way through the round trip (the
    error is at most half the round trip, less when the two legs take as long)."""
    return Sample(round_trip=max(received - sent, 0.0), offset=server_time - (sent + received) / 2)


class ClockOffset:
    """The offset to add to this machine's time to get the centre's: the offset of the sample
    with the shortest round trip among the last SAMPLES_KEPT, moved only beyond DEAD_BAND or for
    a sample with less than half the round trip of the one the estimate came from.
    `offset` starts at `initial` (0.0, or the last known offset of a restarted agent)."""

    def __init__(self, initial: float = 0.0) -> None:
        self._samples: deque[Sample] = deque(maxlen=SAMPLES_KEPT)
        self.offset = round(initial, 3)
        self._round_trip = math.inf  # of the sample the estimate was taken from
        self.measured = False
        """Whether any answer has been measured (else `offset` is only the initial value)."""

    def add(self, sent: float, server_time: float, received: float) -> float:
        """Take one answer's times (seconds; `sent` and `received` on this machine's clock) and
        return the offset now in force."""
        self._samples.append(sample(sent, server_time, received))
        best = min(self._samples, key=lambda s: s.round_trip)
        clearly_better = best.round_trip < self._round_trip / 2  # half the uncertainty of the estimate
        if not self.measured or clearly_better or abs(best.offset - self.offset) > DEAD_BAND:
            self.offset = round(best.offset, 3)
            self._round_trip = best.round_trip
        self.measured = True
        return self.offset

    def correct(self, local_time: float) -> float:
        """`local_time` on the centre's clock, to the millisecond."""
        return round(local_time + self.offset, 3)
