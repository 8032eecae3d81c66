"""Audit log queries: add a row, read rows newest first with filters. The caller owns the
transaction; nothing here knows who is asking."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.audit_models import (
    ACTION_LENGTH,
    ACTOR_LENGTH,
    ADDRESS_LENGTH,
    CREDENTIAL_LENGTH,
    TARGET_LENGTH,
    AuditRow,
)
from storage.orm import REASON_LENGTH


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    actor: str
    role: str | None
    credential: str
    action: str
    target: str
    address: str
    status: int
    outcome: str
    detail: str = ""


def add_entry(session: Session, *, entry: AuditEntry) -> None:
    """Add one row (texts cut to their columns)."""
    session.add(AuditRow(at=entry.at, actor=entry.actor[:ACTOR_LENGTH], role=entry.role,
                         credential=entry.credential[:CREDENTIAL_LENGTH], action=entry.action[:ACTION_LENGTH],
                         target=entry.target[:TARGET_LENGTH], address=entry.address[:ADDRESS_LENGTH],
                         status=entry.status, outcome=entry.outcome, detail=entry.detail[:REASON_LENGTH]))


def entries(session: Session, *, start: datetime | None = None, end: datetime | None = None,
            actor: str | None = None, limit: int = 100) -> list[AuditEntry]:
    """Rows in [start, end), of `actor` when given, newest first, at most `limit`."""
    query = select(AuditRow)
    if start is not None:
        query = query.where(AuditRow.at >= start)
    if end is not None:
        query = query.where(AuditRow.at < end)
    if actor is not None:
        query = query.where(AuditRow.actor == actor)
    rows = session.scalars(query.order_by(AuditRow.at.desc(), AuditRow.id.desc()).limit(limit))
    return [AuditEntry(at=r.at, actor=r.actor, role=r.role, credential=r.credential, action=r.action,
                       target=r.target, address=r.address, status=r.status, outcome=r.outcome, detail=r.detail)
            for r in rows]


ACK_ACTION = "POST /api/v1/alerts/{key:path}/ack"
"""How the audit log names an acknowledgement (monitor.auth.policy's route template)."""
ACK_DETAIL = "acknowledged by "
"""The acknowledgement route's detail: `acknowledged by <name>` (the name recorded on the alert)."""


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    at: datetime
    key: str
    by: str


def acknowledgements(session: Session, *, keys: list[str], start: datetime, end: datetime) -> list[Acknowledgement]:
    """Successful acknowledgements of the alerts `keys` in [start, end), oldest first: who, by the
    name the alert recorded (the entry's actor when the route said none)."""
    targets = {f"/api/v1/alerts/{key}/ack": key for key in keys}
    rows = session.scalars(select(AuditRow).where(
        AuditRow.action == ACK_ACTION, AuditRow.outcome == "success", AuditRow.target.in_(list(targets)),
        AuditRow.at >= start, AuditRow.at < end).order_by(AuditRow.at))
    return [Acknowledgement(at=r.at, key=targets[r.target],
                            by=r.detail.removeprefix(ACK_DETAIL) if r.detail.startswith(ACK_DETAIL) else r.actor)
            for r in rows]
