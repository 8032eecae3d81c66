"""/api/v1/audit: the audit log, newest first (admins only: monitor.auth.policy). Thin: one
storage read, shaped."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from monitor.api.deps import SessionDep
from monitor.api.times import UtcInstant
from storage import audit

router = APIRouter(prefix="/api/v1", tags=["audit"])

AUDIT_LIMIT_MAX = 1000


class AuditEntryOut(BaseModel):
    at: datetime
    actor: str = Field(description="the user or token name; `anonymous` when nobody signed in")
    role: str | None = Field(description="viewer, operator or admin at the time")
    credential: str = Field(description="session, session:oidc, token:<name>, api_token or anonymous")
    action: str = Field(description="method and route, or the sign-in step")
    target: str = Field(description="the path as requested")
    address: str = Field(description="the client's address")
    status: int = Field(description="the HTTP status answered")
    outcome: str = Field(description="success, refused (401, 403, 429) or failure")
    detail: str


@router.get("/audit", response_model=list[AuditEntryOut])
def list_audit(
    session: SessionDep,
    from_: Annotated[UtcInstant | None, Query(alias="from")] = None,
    to: UtcInstant | None = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=AUDIT_LIMIT_MAX)] = 100,
) -> list[AuditEntryOut]:
    """Writes, sign-ins and sign-outs: who (user or token, role, credential), what, when, from
    where and how it went; newest first."""
    rows = audit.entries(session, start=from_, end=to, actor=actor, limit=limit)
    return [AuditEntryOut(at=r.at, actor=r.actor, role=r.role, credential=r.credential, action=r.action,
                          target=r.target, address=r.address, status=r.status, outcome=r.outcome, detail=r.detail)
            for r in rows]
