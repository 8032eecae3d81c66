"""The latency summary kept in every rollup: status counts plus a fixed log-scale histogram, which
merges by adding counts and yields p50/p95 by interpolation. Pure: no I/O, no database.

Why this shape: a t-digest or a stored list of quantiles cannot be merged exactly across checks,
hours and days; a fixed histogram can, with SQL `SUM()` on every database, and its error is
bounded by the width of one bin (a factor √2 here, and far less after interpolation)."""

from __future__ import annotations

import bisect
import math
import operator
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "BIN_COLUMNS",
    "BOUNDS",
    "NBINS",
    "SLOTS_PER_HOUR",
    "Summary",
    "bin_index",
    "decode_slots",
    "encode_slots",
]

BOUNDS: tuple[float, ...] = tuple(0.001 * 2 ** (i / 2) for i in range(33))
"""Upper bounds (seconds) of the histogram bins: 1 ms · √2ⁱ, so 1 ms … 65.5 s with two bins per
doubling. Bin 0 holds [0, 1 ms), bin i holds [BOUNDS[i-1], BOUNDS[i]), the last bin ≥ 65.5 s.
Stored data depends on these values: changing them needs a migration that rebuilds rollups."""

NBINS = len(BOUNDS) + 1
BIN_COLUMNS: tuple[str, ...] = tuple(f"h{i:02d}" for i in range(NBINS))
"""Column names of the bins in the hourly and daily rollup tables."""

SLOTS_PER_HOUR = 12  # 5-minute buckets in one hour
_ENCODING_VERSION = 2
_HAS_FAILURES, _HAS_LATENCY = 1, 2  # slot flags
_SLOT_HEAD_V1 = struct.Struct("<Bff")  # version 1: slot index, latency sum, latency max (float32)


def bin_index(latency: float) -> int:
    """The histogram bin of one latency (seconds)."""
    return bisect.bisect_right(BOUNDS, latency)


@dataclass(slots=True)
class Summary:
    """Runs and latency of one bucket (or of many merged). `down`, `degraded` and `unknown` count
    results by status (the rest were up). Latency figures count only up and degraded runs: a down
    run's duration is how long it took to fail (often the timeout), not the service's latency."""

    runs: int = 0
    down: int = 0
    degraded: int = 0
    unknown: int = 0
    lat_sum: float = 0.0
    lat_max: float | None = None
    bins: list[int] = field(default_factory=lambda: [0] * NBINS)

    # -- building ----------------------------------------------------------------------------
    def add(self, status: str, latency: float | None) -> None:
        """Count one result."""
        self.runs += 1
        if status == "down":
            self.down += 1
        elif status == "unknown":
            self.unknown += 1
        elif status == "degraded":
            self.degraded += 1
        if status in ("up", "degraded") and latency is not None:
            self.lat_sum += latency
            self.lat_max = latency if self.lat_max is None else max(self.lat_max, latency)
            self.bins[bin_index(latency)] += 1

    def merge(self, other: Summary) -> Summary:
        """Add `other` into this summary (in place) and return self."""
        self.runs += other.runs
        self.down += other.down
        self.degraded += other.degraded
        self.unknown += other.unknown
        self.lat_sum += other.lat_sum
        if other.lat_max is not None:
            self.lat_max = other.lat_max if self.lat_max is None else max(self.lat_max, other.lat_max)
        self.bins = list(map(operator.add, self.bins, other.bins))
        return self

    @classmethod
    def merged(cls, summaries: Iterable[Summary]) -> Summary:
        out = cls()
        for summary in summaries:
            out.merge(summary)
        return out

    # -- reading -----------------------------------------------------------------------------
    @property
    def up(self) -> int:
        return self.runs - self.down - self.degraded - self.unknown

    @property
    def latency_count(self) -> int:
        return sum(self.bins)

    @property
    def latency_mean(self) -> float | None:
        n = self.latency_count
        return self.lat_sum / n if n else None

    def percentile(self, q: float) -> float | None:
        """The q-quantile (0 < q ≤ 1) of the latencies, interpolated geometrically inside its bin
        (linearly in the first and last bins) and never above the largest latency seen. Off by
        at most one bin (a factor √2); on lognormal latencies within ~12 % (tests/history)."""
        n = self.latency_count
        if not n:
            return None
        if n == 1 and self.lat_max is not None:
            return self.lat_max  # the one latency there is
        rank = max(q * n, 1e-9)
        seen = 0
        for i, count in enumerate(self.bins):
            if not count or seen + count < rank:
                seen += count
                continue
            fraction = (rank - seen) / count
            low = BOUNDS[i - 1] if i > 0 else 0.0
            high = BOUNDS[i] if i < len(BOUNDS) else max(self.lat_max or low, low)
            if self.lat_max is not None and low <= self.lat_max < high:
                high = self.lat_max  # the top bin ends at the largest latency actually seen
            linear = low <= 0.0 or i == len(BOUNDS)  # the first and the open-ended last bin
            value = low + (high - low) * fraction if linear else low * (high / low) ** fraction
            return min(value, self.lat_max) if self.lat_max is not None else value
        return self.lat_max  # unreachable with consistent counts

    # -- columns (hourly and daily rollups) --------------------------------------------------
    @classmethod
    def from_columns(cls, row: object) -> Summary:
        """From a row with runs/down/degraded/unknown/lat_sum/lat_max/h00…h33 (NULL bins = 0)."""
        return cls(
            runs=int(row.runs or 0),
            down=int(row.down or 0),
            degraded=int(row.degraded or 0),
            unknown=int(row.unknown or 0),
            lat_sum=float(row.lat_sum or 0.0),
            lat_max=None if row.lat_max is None else float(row.lat_max),
            bins=[int(getattr(row, name) or 0) for name in BIN_COLUMNS],
        )

    @classmethod
    def from_values(cls, values: Sequence[object]) -> Summary:
        """From (runs, down, degraded, unknown, lat_sum, lat_max, h00, …, h33) by position: the
        fast path for thousands of rows (SUM() of no rows is NULL, read as 0)."""
        runs, down, degraded, unknown, lat_sum, lat_max = values[:6]
        return cls(
            runs=int(runs or 0), down=int(down or 0), degraded=int(degraded or 0), unknown=int(unknown or 0),
            lat_sum=float(lat_sum or 0.0), lat_max=None if lat_max is None else float(lat_max),
            bins=[int(v) if v else 0 for v in values[6:]],
        )

    def columns(self) -> dict[str, object]:
        """The values for a rollup row; empty bins as NULL (free in PostgreSQL and MySQL rows)."""
        out: dict[str, object] = {
            "runs": self.runs,
            "down": self.down,
            "degraded": self.degraded,
            "unknown": self.unknown,
            "lat_sum": self.lat_sum,
            "lat_max": self.lat_max,
        }
        out.update({name: (count or None) for name, count in zip(BIN_COLUMNS, self.bins, strict=True)})
        return out


# -- the twelve 5-minute buckets of one hour, packed into one value ------------------------------
def _put_varint(out: bytearray, value: int) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _get_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _micros(seconds: float) -> int:
    return max(0, round(seconds * 1_000_000))


def encode_slots(slots: Sequence[Summary | None]) -> bytes:
    """Pack up to 12 five-minute summaries (index = slot in the hour; None or empty = no runs)
    into one value of ~190 bytes for a check run every 30 s: a bitmap of the slots with runs,
    then per slot a flags byte, varint counts (the three failure counts only when not all
    zero), latency sum and max as varint microseconds, and the used bins as (gap, count)."""
    present = [(i, s) for i, s in enumerate(slots) if s is not None and s.runs]
    out = bytearray([_ENCODING_VERSION])
    out += sum(1 << i for i, _ in present).to_bytes(2, "little")
    for _, summary in present:
        failures = (summary.down, summary.degraded, summary.unknown)
        flags = (_HAS_FAILURES if any(failures) else 0) | (_HAS_LATENCY if summary.lat_max is not None else 0)
        out.append(flags)
        _put_varint(out, summary.runs)
        if flags & _HAS_FAILURES:
            for value in failures:
                _put_varint(out, value)
        if flags & _HAS_LATENCY:
            _put_varint(out, _micros(summary.lat_sum))
            _put_varint(out, _micros(summary.lat_max))
        used = [(i, c) for i, c in enumerate(summary.bins) if c]
        out.append(len(used))
        last = -1
        for i, count in used:
            out.append(i - last - 1)
            _put_varint(out, count)
            last = i
    return bytes(out)


def decode_slots(data: bytes) -> list[Summary | None]:
    """The inverse of `encode_slots` (and of its version 1): always 12 entries, None where a
    slot had no runs."""
    if not data or data[0] not in (1, _ENCODING_VERSION):
        raise ValueError(f"unknown 5-minute rollup encoding {data[:1]!r}")
    if data[0] == 1:
        return _decode_slots_v1(data)
    slots: list[Summary | None] = [None] * SLOTS_PER_HOUR
    present = int.from_bytes(data[1:3], "little")
    pos = 3
    for index in range(SLOTS_PER_HOUR):
        if not present >> index & 1:
            continue
        flags = data[pos]
        runs, pos = _get_varint(data, pos + 1)
        failures = [0, 0, 0]
        if flags & _HAS_FAILURES:
            for k in range(3):
                failures[k], pos = _get_varint(data, pos)
        lat_sum, lat_max = 0.0, None
        if flags & _HAS_LATENCY:
            total, pos = _get_varint(data, pos)
            top, pos = _get_varint(data, pos)
            lat_sum, lat_max = total / 1_000_000, top / 1_000_000
        bins = [0] * NBINS
        used = data[pos]
        pos += 1
        i = -1
        for _ in range(used):
            i += data[pos] + 1
            bins[i], pos = _get_varint(data, pos + 1)
        slots[index] = Summary(runs, *failures, lat_sum=lat_sum, lat_max=lat_max, bins=bins)
    return slots


def _decode_slots_v1(data: bytes) -> list[Summary | None]:
    """Version 1: per slot its index, float32 latency sum and max, four varint counts, bins."""
    slots: list[Summary | None] = [None] * SLOTS_PER_HOUR
    pos = 1
    while pos < len(data):
        index, lat_sum, lat_max = _SLOT_HEAD_V1.unpack_from(data, pos)
        pos += _SLOT_HEAD_V1.size
        counts = []
        for _ in range(4):
            value, pos = _get_varint(data, pos)
            counts.append(value)
        bins = [0] * NBINS
        used = data[pos]
        pos += 1
        for _ in range(used):
            i = data[pos]
            bins[i], pos = _get_varint(data, pos + 1)
        slots[index] = Summary(
            *counts, lat_sum=lat_sum, lat_max=None if math.isnan(lat_max) else lat_max, bins=bins
        )
    return slots
