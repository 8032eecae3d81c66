"""The audit log table: one row per write to the service (who, with which role and credential,
what, when, from where, how it went). Schema only: storage/audit.py reads and writes it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.orm import REASON_LENGTH, Base, EpochMs

ACTOR_LENGTH = 200
CREDENTIAL_LENGTH = 220  # "token:<name>"
ACTION_LENGTH = 300  # "POST /api/v1/alerts/{key:path}/ack"
TARGET_LENGTH = 1000  # the path as requested, cut
ADDRESS_LENGTH = 64  # an IPv6 address and a port, at most


class AuditRow(Base):
    """One write: `actor` (a user or token name, `anonymous`), its `role` then, the `credential`
    (`session`, `session:oidc`, `token:<name>`, `api_token`, `anonymous`), the `action` (method and
    route), the `target` (the path as requested), the client `address`, the HTTP `status` answered
    and `outcome` (`success`, `refused`, `failure`), and a short `detail`."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(EpochMs)
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH))
    role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    credential: Mapped[str] = mapped_column(String(CREDENTIAL_LENGTH))
    action: Mapped[str] = mapped_column(String(ACTION_LENGTH))
    target: Mapped[str] = mapped_column(String(TARGET_LENGTH))
    address: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    status: Mapped[int] = mapped_column(SmallInteger)
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(String(REASON_LENGTH), default="")

    __table_args__ = (Index("ix_audit_log_at", "at"), Index("ix_audit_log_actor_at", "actor", "at"))
