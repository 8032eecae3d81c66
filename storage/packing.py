"""The packed-results codec: one check's raw results of one hour ↔ one compact blob (zlib of
columnar JSON, strings and details by per-blob dictionary). Pure functions: no database access."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Packed", "decode", "encode"]

VERSION = 1
LEVEL = 9  # zlib level: packing runs once per hour and check, reading is unaffected by the level


@dataclass(frozen=True, slots=True)
class Packed:
    """One raw result as the codec sees it: ts in integer milliseconds since the epoch."""

    ts_ms: int
    status: str
    latency: float | None
    reason: str
    details: dict[str, Any] | None


def _index(values: Iterable[Any], key: Any = None) -> tuple[list[Any], list[int]]:
    """A dictionary of distinct values (first-seen order) and each value's position in it."""
    table: dict[Any, int] = {}
    distinct: list[Any] = []
    refs = []
    for value in values:
        k = value if key is None else key(value)
        if k not in table:
            table[k] = len(distinct)
            distinct.append(value)
        refs.append(table[k])
    return distinct, refs


def _canonical(details: dict[str, Any] | None) -> str:
    return json.dumps(details, sort_keys=True, separators=(",", ":"))


def encode(results: Sequence[Packed], *, base_ms: int) -> bytes:
    """Pack results (any order; stored in time order) relative to `base_ms` (the hour start)."""
    ordered = sorted(results, key=lambda r: r.ts_ms)
    deltas, prev = [], base_ms
    for r in ordered:  # time deltas: runs at a steady interval compress to almost nothing
        deltas.append(r.ts_ms - prev)
        prev = r.ts_ms
    statuses, s_refs = _index(r.status for r in ordered)
    reasons, r_refs = _index(r.reason for r in ordered)
    details, d_refs = _index((r.details for r in ordered), key=_canonical)
    doc = {
        "v": VERSION,
        "t": deltas,
        "s": statuses, "si": s_refs,
        "l": [r.latency for r in ordered],
        "r": reasons, "ri": r_refs,
        "d": details, "di": d_refs,
    }
    return zlib.compress(json.dumps(doc, separators=(",", ":")).encode(), LEVEL)


def decode(blob: bytes, *, base_ms: int) -> list[Packed]:
    """The results of a blob, in time order."""
    doc = json.loads(zlib.decompress(blob))
    if doc.get("v") != VERSION:
        raise ValueError(f"unknown packed results version {doc.get('v')!r}")
    out, ts = [], base_ms
    s, r, d = doc["s"], doc["r"], doc["d"]
    for delta, si, lat, ri, di in zip(doc["t"], doc["si"], doc["l"], doc["ri"], doc["di"], strict=True):
        ts += delta
        out.append(Packed(ts, s[si], lat, r[ri], d[di]))
    return out
