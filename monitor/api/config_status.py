"""/api/v1/config/status: whether the running config is the file on disk, and how the last reload
went (a refused one with its reason). Read-only; the reload itself is the service's."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from monitor.api.deps import ServiceDep
from monitor.instants import from_unix
from monitor.redact import Redactor

router = APIRouter(prefix="/api/v1/config", tags=["config"])

REASON_CHARS = 4000  # a refused reload lists at most 50 problems; more is cut, never a whole file


class ReloadOut(BaseModel):
    outcome: Literal["success", "failure"] = Field(description="applied, or refused (the running config stayed)")
    at: datetime
    reason: str | None = Field(description="why it was refused, one problem a line, each naming its place")


class ConfigStatusOut(BaseModel):
    path: str | None = Field(description="the config file the service reloads from; null when it has none")
    file: Literal["applied", "changed", "unreadable"] | None = Field(
        description="the file on disk: `applied` (the running config was read from it as it is), "
                    "`changed` (edited since: not reloaded yet, or refused: see `last_reload`), `unreadable`; "
                    "null without a file")
    last_reload: ReloadOut | None = Field(description="the last reload of this process, null before any")
    reloads: dict[str, int] = Field(description="reloads of this process by outcome (success, failure)")


@router.get("/status", response_model=ConfigStatusOut)
def config_status(service: ServiceDep) -> ConfigStatusOut:
    """The running config against the file on disk (read now, in a worker thread) and the last
    reload's outcome, time and reason."""
    stats = service.reloads
    last = None
    if stats.last_at is not None:
        reason = stats.last_reason
        if reason is not None:  # the loader redacts what it quotes; an unexpected error's text may not be
            reason = Redactor(service.config.secret_values).text(reason)[:REASON_CHARS]
        last = ReloadOut(outcome="success" if stats.last_successful else "failure", at=from_unix(stats.last_at),
                         reason=reason)
    path = service.config_path
    return ConfigStatusOut(path=None if path is None else str(path), file=service.config_file_state(),
                           last_reload=last, reloads=stats.outcomes())


class ReloadAnswer(BaseModel):
    outcome: Literal["success", "failure"] = Field(description="applied, or refused (the running config stayed)")
    reason: str | None = Field(description="why it was refused")


@router.post("/reload", response_model=ReloadAnswer)
async def reload_config(service: ServiceDep) -> ReloadAnswer:
    """Read the config file again now, as SIGHUP does (admins only). 409 without a config file."""
    if service.config_path is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "the service runs without a config file: nothing to reload")
    applied = await service.reload()
    reason = None if applied else service.reloads.last_reason
    if reason is not None:
        reason = Redactor(service.config.secret_values).text(reason)[:REASON_CHARS]
    return ReloadAnswer(outcome="success" if applied else "failure", reason=reason)
