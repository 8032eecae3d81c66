"""The packed results table: older raw results, one row per check and hour (see storage/packing.py
for the blob and storage/compaction.py for who writes it). No queries here."""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.orm import ID_LENGTH, Base

BLOB_BYTES = 16 * 1024 * 1024  # MySQL: a MEDIUMBLOB (a plain BLOB stops at 64 KiB)


class PackedResultRow(Base):
    """One check's raw results of one hour, packed. `hour`, `first_ms` and `last_ms` are integer
    milliseconds since the epoch (the hour's start, its first and last result's ts), so readers
    can pick the rows overlapping a range without unpacking."""

    __tablename__ = "results_packed"

    check_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer)
    first_ms: Mapped[int] = mapped_column(BigInteger)
    last_ms: Mapped[int] = mapped_column(BigInteger)
    blob: Mapped[bytes] = mapped_column(LargeBinary(BLOB_BYTES))

    __table_args__ = (Index("ix_results_packed_hour", "hour"),)
