"""The rollup tables as plain tuples, for comparing two states of a database."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.rollup_models import ComponentRollup1d, Rollup1d, Rollup1h, Rollup5m


def dump_rollups(engine) -> list[list[tuple]]:
    with Session(engine) as s:
        out = [[tuple(r) for r in s.execute(select(m.__table__).order_by("check_id", "bucket"))]
               for m in (Rollup5m, Rollup1h, Rollup1d)]
        out.append([tuple(r) for r in s.execute(select(ComponentRollup1d.__table__).order_by("component"))])
        return out
