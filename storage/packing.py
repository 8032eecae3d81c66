"""The packed-results codec: one check's raw results of one hour ↔ one compact blob. Pure
functions: no database access.

Format 2 (written now): one version byte, then zlib of a small header and eight sections, each a
column of the hour's results in time order:

    deltas (ms since the previous result, the first since the hour start) · status refs ·
    latencies · reason refs · the status and reason dictionaries (JSON) · details refs ·
    the details skeletons (JSON) · the numbers taken out of the skeletons

Integer columns are stored at the narrowest width that holds them with their bytes split into
planes (all low bytes, then all next bytes…): a steady interval, a handful of statuses and
latencies of a few milliseconds leave whole planes of equal bytes for zlib to fold away.
Latencies and the float leaves of details are stored as whole microseconds when that is exact
(the probes round to µs; anything else falls back to JSON, so decoding always gives back the
very values encoded). Details are split into a skeleton (the JSON with every float leaf set to
0.0, dictionary-coded: a tcp probe's `{"phases": {"connect": …}}` is one skeleton for the whole
hour) and its float leaves in walk order, so the per-run timings become one more µs column
instead of a distinct JSON text per run.

Readers that do not need details (the platform at an instant, rollups) decode only the first
five sections: `decode(..., details=False)`, `last_at`. Format 1 (zlib of one JSON document,
written by earlier versions) is still read."""

from __future__ import annotations

import bisect
import itertools
import json
import math
import struct
import sys
import zlib
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

__all__ = ["Packed", "decode", "encode", "last_at"]

VERSION = 2
LEVEL = 9  # zlib level: packing runs once per hour and check, reading is unaffected by the level
_SECTIONS = 8
_HEADER = struct.Struct(f"<I{_SECTIONS}I")  # count, then each section's length
_WIDTHS = ((1, "B"), (2, "H"), (4, "I"), (8, "Q"))
_JSON_TAG = 0  # a column that fits no integer width: JSON
_MICRO = 1_000_000


class Packed(NamedTuple):
    """One raw result as the codec sees it: ts in integer milliseconds since the epoch. A named
    tuple: an hour is 120 of them or more, and a frozen dataclass costs four times as much to make."""

    ts_ms: int
    status: str
    latency: float | None
    reason: str
    details: dict[str, Any] | None


# -- columns -------------------------------------------------------------------------------------
def _dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def _uints(values: Sequence[int]) -> bytes:
    """Non-negative integers: a width byte, then the little-endian bytes split into planes."""
    top = max(values, default=0)
    if min(values, default=0) >= 0:
        for width, code in _WIDTHS:
            if top < 1 << (8 * width):
                data = array(code, values)
                if sys.byteorder == "big":
                    data.byteswap()
                raw = data.tobytes()
                return bytes([width]) + b"".join(raw[k::width] for k in range(width))
    return bytes([_JSON_TAG]) + _dump(list(values))


def _read_uints(data: bytes, n: int) -> Sequence[int]:
    width = data[0]
    if width == _JSON_TAG:
        return json.loads(data[1:])
    code = dict(_WIDTHS)[width]
    planes = memoryview(data)[1:]
    if width == 1:
        return array(code, planes)
    raw = bytearray(n * width)
    for k in range(width):
        raw[k::width] = planes[k * n:(k + 1) * n]
    out = array(code, raw)
    if sys.byteorder == "big":
        out.byteswap()
    return out


def _micros(value: float) -> int | None:
    """`value` as whole microseconds when that gives back exactly `value` (sign of zero included)."""
    if not math.isfinite(value) or abs(value) >= 1e12:
        return None
    k = round(value * _MICRO)
    if k / _MICRO != value or (k == 0 and math.copysign(1.0, value) < 0):
        return None
    return k


def _floats(values: Sequence[float | None], *, signed: bool) -> bytes:
    """Floats (None allowed when not `signed`): µs + 1 (0 = None) or zigzag µs when all are
    exact in µs, else JSON."""
    out = []
    for v in values:
        if v is None:
            if signed:
                break
            out.append(0)
            continue
        k = _micros(v)
        if k is None or (k < 0 and not signed):
            break
        out.append(((k << 1) ^ (k >> 63)) if signed else k + 1)
    else:
        return b"u" + _uints(out)
    return b"j" + json.dumps(list(values), separators=(",", ":")).encode()


def _read_floats(data: bytes, n: int, *, signed: bool) -> list[float | None]:
    if data[:1] == b"j":
        return json.loads(data[1:])
    ints = _read_uints(data[1:], n)
    if signed:
        return [((z >> 1) ^ -(z & 1)) / _MICRO for z in ints]
    return [None if z == 0 else (z - 1) / _MICRO for z in ints]


def _index(values: Iterable[Any]) -> tuple[list[Any], list[int]]:
    """A dictionary of distinct values (first-seen order) and each value's position in it."""
    table: dict[Any, int] = {}
    refs = [table.setdefault(v, len(table)) for v in values]
    return list(table), refs


# -- details: skeleton + float leaves ------------------------------------------------------------
def _split(value: Any, leaves: list[float]) -> Any:
    """`value` with every float leaf replaced by 0.0 (keys sorted), the leaves appended in order."""
    if type(value) is float:
        leaves.append(value)
        return 0.0
    if isinstance(value, dict):
        return {k: _split(value[k], leaves) for k in sorted(value)}
    if isinstance(value, list):
        return [_split(v, leaves) for v in value]
    return value


def _count(skeleton: Any) -> int:
    if type(skeleton) is float:
        return 1
    if isinstance(skeleton, dict):
        return sum(_count(v) for v in skeleton.values())
    if isinstance(skeleton, list):
        return sum(_count(v) for v in skeleton)
    return 0


def _fill(skeleton: Any, leaves: Iterator[float]) -> Any:
    """A new value from `skeleton` with its float leaves taken from `leaves` in order."""
    if type(skeleton) is float:
        return next(leaves)
    if isinstance(skeleton, dict):
        return {k: _fill(v, leaves) for k, v in skeleton.items()}
    if isinstance(skeleton, list):
        return [_fill(v, leaves) for v in skeleton]
    return skeleton


# -- blobs ---------------------------------------------------------------------------------------
def encode(results: Sequence[Packed], *, base_ms: int) -> bytes:
    """Pack results (any order; stored in time order, ts not before `base_ms`, the hour start)."""
    ordered = sorted(results, key=lambda r: r.ts_ms)
    deltas, prev = [], base_ms
    for r in ordered:
        deltas.append(r.ts_ms - prev)
        prev = r.ts_ms
    statuses, s_refs = _index(r.status for r in ordered)
    reasons, r_refs = _index(r.reason for r in ordered)
    leaves: list[float] = []
    skeletons, d_refs = _index(_dump(_split(r.details, leaves)) for r in ordered)
    sections = [
        _uints(deltas),
        _uints(s_refs),
        _floats([r.latency for r in ordered], signed=False),
        _uints(r_refs),
        _dump({"s": statuses, "r": reasons}),
        _uints(d_refs),
        b"[" + b",".join(skeletons) + b"]",
        _floats(leaves, signed=True),
    ]
    body = _HEADER.pack(len(ordered), *map(len, sections)) + b"".join(sections)
    return bytes([VERSION]) + zlib.compress(body, LEVEL)


class _Blob:
    """A decompressed format-2 blob whose sections are parsed on demand."""

    __slots__ = ("body", "n", "offsets")

    def __init__(self, blob: bytes) -> None:
        self.body = zlib.decompress(memoryview(blob)[1:])
        head = _HEADER.unpack_from(self.body)
        self.n = head[0]
        self.offsets = list(itertools.accumulate(head[1:], initial=_HEADER.size))

    def section(self, i: int) -> bytes:
        return self.body[self.offsets[i]:self.offsets[i + 1]]

    def times(self, base_ms: int) -> list[int]:
        return list(itertools.accumulate(_read_uints(self.section(0), self.n), initial=base_ms))[1:]

    def columns(self) -> tuple[Sequence[int], list[float | None], Sequence[int], list[str], list[str]]:
        tables = json.loads(self.section(4))
        return (_read_uints(self.section(1), self.n), _read_floats(self.section(2), self.n, signed=False),
                _read_uints(self.section(3), self.n), tables["s"], tables["r"])

    def details(self) -> list[dict[str, Any] | None]:
        refs = _read_uints(self.section(5), self.n)
        skeletons = json.loads(self.section(6))
        counts = [_count(s) for s in skeletons]
        leaves = iter(_read_floats(self.section(7), sum(counts[i] for i in refs), signed=True))
        return [_fill(skeletons[i], leaves) if counts[i] else skeletons[i] for i in refs]


def decode(blob: bytes, *, base_ms: int, details: bool = True) -> list[Packed]:
    """The results of a blob, in time order (without details, each None, if not asked)."""
    if blob[:1] != bytes([VERSION]):
        out = _decode_v1(blob, base_ms=base_ms)
        return out if details else [Packed(p.ts_ms, p.status, p.latency, p.reason, None) for p in out]
    b = _Blob(blob)
    s_refs, latencies, r_refs, statuses, reasons = b.columns()
    extra = b.details() if details else itertools.repeat(None)
    return [
        Packed(ts, statuses[si], lat, reasons[ri], d)
        for ts, si, lat, ri, d in zip(b.times(base_ms), s_refs, latencies, r_refs, extra, strict=False)
    ]


def last_at(blob: bytes, *, base_ms: int, at_ms: int | None, details: bool = False) -> Packed | None:
    """The blob's last result at or before `at_ms` (None: its last), or None if it has none.
    Unpacks the times only, then reads that one result's status, latency and reason in place
    (details only if asked): the platform at an instant reads one blob per check."""
    if blob[:1] != bytes([VERSION]):
        before = [p for p in decode(blob, base_ms=base_ms, details=details) if at_ms is None or p.ts_ms <= at_ms]
        return before[-1] if before else None
    b = _Blob(blob)
    times = b.times(base_ms)
    i = len(times) - 1 if at_ms is None else bisect.bisect_right(times, at_ms) - 1
    if i < 0:
        return None
    tables = json.loads(b.section(4))
    latency = b.section(2)
    if latency[:1] == b"j":
        lat = json.loads(latency[1:])[i]
    else:
        z = _uint_at(latency[1:], b.n, i)
        lat = None if z == 0 else (z - 1) / _MICRO
    return Packed(times[i], tables["s"][_uint_at(b.section(1), b.n, i)], lat,
                  tables["r"][_uint_at(b.section(3), b.n, i)], b.details()[i] if details else None)


def _uint_at(data: bytes, n: int, i: int) -> int:
    """The i-th of n values of an integer column, read in place."""
    width = data[0]
    if width == _JSON_TAG:
        return json.loads(data[1:])[i]
    return int.from_bytes(bytes(data[1 + k * n + i] for k in range(width)), "little")


def _decode_v1(blob: bytes, *, base_ms: int) -> list[Packed]:
    """Format 1: zlib of one JSON document with the same columns."""
    doc = json.loads(zlib.decompress(blob))
    if doc.get("v") != 1:
        raise ValueError(f"unknown packed results version {doc.get('v')!r}")
    out, ts = [], base_ms
    s, r, d = doc["s"], doc["r"], doc["d"]
    for delta, si, lat, ri, di in zip(doc["t"], doc["si"], doc["l"], doc["ri"], doc["di"], strict=True):
        ts += delta
        out.append(Packed(ts, s[si], lat, r[ri], d[di]))
    return out
