"""Recording the audit log: one entry per write (and per sign-in and sign-out), written in a
worker thread once the request is answered. A database that is down loses the entry with a log
line; it never fails or delays the answer. Secrets never reach an entry (no bodies, no headers)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from monitor.auth.roles import Principal
from storage.audit import AuditEntry, add_entry

log = logging.getLogger(__name__)


def outcome_of(status: int) -> str:
    """`success` (2xx, 3xx), `refused` (401, 403, 429: who asked), `failure` (anything else)."""
    if status < 400:
        return "success"
    return "refused" if status in (401, 403, 429) else "failure"


def storable(text: str) -> str:
    """`text` as every database stores it: NUL and lone surrogates (a name typed at /login can
    hold anything) become U+FFFD."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace").replace("\x00", "\ufffd")


async def record(service: Any, entry: AuditEntry) -> None:
    """Store `entry` (service: the running Service, for its database and storage watchdog)."""
    entry = dataclasses.replace(entry, actor=storable(entry.actor), target=storable(entry.target),
                                detail=storable(entry.detail))
    health = service.engine.storage_health
    reason = health.reason() if health is not None else None
    if reason is not None:
        log.warning("audit: %s %s by %s not stored: storage %s", entry.action, entry.outcome, entry.actor, reason)
        return

    def write() -> None:
        with Session(service.db) as session, session.begin():
            add_entry(session, entry=entry)

    try:
        await asyncio.to_thread(write)
    except Exception as exc:  # the answer is sent already; say what was lost
        log.error("audit: %s %s by %s not stored: %s", entry.action, entry.outcome, entry.actor,
                  type(exc).__name__)


async def record_write(service: Any, principal: Principal, *, method: str, path: str, address: str, status: int,
                       action: str, detail: str = "") -> None:
    """The entry of one write request as answered."""
    await record(service, AuditEntry(
        at=datetime.now(UTC), actor=principal.name, role=principal.role, credential=principal.via, action=action,
        target=path, address=address, status=status, outcome=outcome_of(status), detail=detail))
