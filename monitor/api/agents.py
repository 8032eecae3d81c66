"""The agents' endpoints (docs/agents.md): `GET /api/v1/agent/checks` (what a location runs, long
polled), `POST /api/v1/agent/results` (a batch of results), `POST /api/v1/agent/discovered`, each
authenticated by the agent's own bearer token; and `GET /api/v1/agents`, what the centre last heard
from each agent. Thin: monitor.remote.gateway decides."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from monitor.api.deps import ServiceDep, SessionDep
from monitor.remote.config import AgentConfig, agent_check_id
from monitor.remote.gateway import MAX_BODY_BYTES, MAX_RESULTS, Push, Refused
from storage import agents as agent_store

router = APIRouter(tags=["agents"])


class SettingsOut(BaseModel):
    push_interval: float
    """Seconds between pushes while results wait."""
    heartbeat_interval: float
    """Seconds between pushes at the least, results or not."""
    batch_max: int
    buffer: int
    """Results to keep on disk while the centre is away."""
    max_clock_skew: float


class AssignmentOut(BaseModel):
    """What an agent runs (docs/agents.md)."""

    agent: str
    version: str
    server_time: float
    settings: SettingsOut
    checks: list[dict[str, Any]]
    """Complete check settings, secrets included, without location, locations, quorum, depends_on."""
    clusters: list[dict[str, Any]]
    centre_version: str


class PushOut(BaseModel):
    accepted: int
    """New results stored."""
    duplicates: int
    """Results stored already (a batch sent again): kept once."""
    server_time: float


class DiscoveredOut(BaseModel):
    checks: int


AGENT_ANSWERS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing, unknown or wrong agent token (one answer for all three)"},
    429: {"description": "too many failed authentications from this address (Retry-After)"},
}

UNAUTHORIZED = {"detail": "unauthorized"}


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


def _agent(request: Request, service: Any) -> AgentConfig | JSONResponse:
    """The agent the request's token names, or the answer to give instead: 429 for an address past
    its failures, else 401 (one answer for a missing, an unknown and a wrong token)."""
    gateway = service.gateway
    address = _address(request)
    wait = gateway.blocked_for(address)
    if wait:
        gateway.failed(address, "rate_limited")
        return JSONResponse({"detail": "too many failed authentications from this address"}, 429,
                            headers={"Retry-After": str(int(wait + 0.999))})
    header = request.headers.get("authorization", "")
    agent = gateway.authenticate(header)
    if agent is None:
        gateway.failed(address, "missing" if not header else "invalid")
        return JSONResponse(UNAUTHORIZED, 401, headers={"WWW-Authenticate": "Bearer"})
    return agent


@router.get("/api/v1/agent/checks", response_model=AssignmentOut,
            responses={**AGENT_ANSWERS, 304: {"description": "unchanged (If-None-Match) after `wait`"}})
async def agent_checks(request: Request, service: ServiceDep,
                       wait: float = Query(0.0, ge=0, le=60, description="long poll: seconds to hold the request "
                                                                          "while the version is If-None-Match's")
                       ) -> Response:
    agent = _agent(request, service)
    if isinstance(agent, JSONResponse):
        return agent
    gateway = service.gateway
    seen = request.headers.get("if-none-match", "").strip().strip('"')
    await _touch(gateway, agent, request, seen or None)  # heard now: not when a held poll ends
    if seen:
        await gateway.wait_for_change(agent, seen, wait)
    version, body = gateway.assignment(agent)
    if seen == version:
        return Response(status_code=304, headers={"ETag": f'"{version}"'})
    return JSONResponse({**body, "server_time": gateway.clock()}, headers={"ETag": f'"{version}"'})


async def _touch(gateway: Any, agent: AgentConfig, request: Request, version: str | None) -> None:
    try:
        await gateway.touch(agent, _address(request), version)
    except Exception as exc:  # the database is away: the agent learns it from its pushes (503)
        raise HTTPException(503, f"storage: {type(exc).__name__}", headers={"Retry-After": "5"}) from None


async def _agent_and_body(request: Request, service: Any) -> tuple[AgentConfig, dict[str, Any]] | JSONResponse:
    """The agent a write comes from and its JSON object body, or the answer to give instead."""
    agent = _agent(request, service)
    if isinstance(agent, JSONResponse):
        return agent
    body = await _body(request)
    return body if isinstance(body, JSONResponse) else (agent, body)


async def _body(request: Request) -> dict[str, Any] | JSONResponse:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        return JSONResponse({"detail": f"body larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB"}, 413)
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return JSONResponse({"detail": "the body is not JSON"}, 422)
    if not isinstance(body, dict):
        return JSONResponse({"detail": "the body must be a JSON object"}, 422)
    return body


@router.post("/api/v1/agent/results", response_model=PushOut, responses={
    **AGENT_ANSWERS, 403: {"description": "results for checks not assigned to the agent's location: nothing stored"},
    413: {"description": "more than 5,000 results or 4 MiB"}, 503: {"description": "cannot store now"}})
async def agent_results(request: Request, service: ServiceDep) -> Response:
    found = await _agent_and_body(request, service)
    if isinstance(found, JSONResponse):
        return found
    agent, body = found
    results = body.get("results")
    if isinstance(results, list) and len(results) > MAX_RESULTS:
        return JSONResponse({"detail": f"{len(results)} results in one batch: at most {MAX_RESULTS}"}, 413)
    try:
        push = Push.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return JSONResponse({"detail": f"{where}: {first['msg']}"[:300]}, 422)
    gateway = service.gateway
    try:
        new, repeats = await gateway.push(agent, push, _address(request))
    except Refused as exc:
        return JSONResponse({"detail": f"{len(exc.refused)} check(s) not assigned to location {agent.name}: "
                                       "nothing of the batch was stored", "refused": sorted(exc.refused),
                             "reasons": exc.refused}, 403)
    except Exception as exc:
        return JSONResponse({"detail": f"storage: {type(exc).__name__}: {exc}".splitlines()[0][:300]}, 503,
                            headers={"Retry-After": "5"})
    return JSONResponse({"accepted": new, "duplicates": repeats, "server_time": gateway.clock()})


@router.post("/api/v1/agent/discovered", response_model=DiscoveredOut,
             responses={**AGENT_ANSWERS, 403: {"description": "not a cluster at the agent's location"}})
async def agent_discovered(request: Request, service: ServiceDep) -> Response:
    found = await _agent_and_body(request, service)
    if isinstance(found, JSONResponse):
        return found
    agent, body = found
    source, checks = body.get("source"), body.get("checks")
    if not isinstance(source, str) or not isinstance(checks, list) or not all(isinstance(c, dict) for c in checks):
        return JSONResponse({"detail": "expected {\"source\": \"cluster:<name>:<part>\", \"checks\": [...]}"}, 422)
    try:
        count = await service.gateway.discovered(agent, source, checks)
    except Refused as exc:
        return JSONResponse({"detail": next(iter(exc.refused.values())), "refused": sorted(exc.refused)}, 403)
    return JSONResponse({"checks": count})


class AgentOut(BaseModel):
    name: str
    check: str
    """The id of the check that watches it (agents/<name>)."""
    state: str
    """That check's state: up (reporting), degraded (clock off, buffer full), down (not reporting), unknown."""
    reason: str
    checks: int
    """Checks that run at its location (its clusters' discovered checks included)."""
    last_seen: datetime | None
    last_push: datetime | None
    address: str
    clock_offset: float | None
    """Seconds its clock is behind (+) or ahead (-) of the centre's, as it last measured."""
    buffered: int
    """Results waiting in its buffer at its last push."""
    dropped: int
    """Results its buffer dropped (overflow) since it was created."""
    results: int
    """Results accepted from it since it first reported."""
    agent_version: str
    config_version: str
    """The version of its assignment it runs."""
    current_version: str
    """The version the centre would send it now."""


@router.get("/api/v1/agents", response_model=list[AgentOut])
def list_agents(service: ServiceDep, session: SessionDep) -> list[AgentOut]:
    """Every configured agent: what the centre last heard from it and the state of its check."""
    contacts = {row.name: row for row in agent_store.contacts(session)}
    engine = service.engine
    out = []
    for agent in service.config.agents:
        row = contacts.get(agent.name)
        state = engine.state.checks.get(agent_check_id(agent.name))
        out.append(AgentOut(
            name=agent.name, check=agent_check_id(agent.name),
            state=state.status.value if state else "unknown", reason=state.reason if state else "",
            checks=sum(1 for c in engine.checks.values() if agent.name in c.sites),
            last_seen=row.last_seen if row else None, last_push=row.last_push if row else None,
            address=row.address if row else "", clock_offset=row.clock_offset if row else None,
            buffered=row.buffered if row else 0, dropped=row.dropped if row else 0,
            results=row.results if row else 0, agent_version=row.agent_version if row else "",
            config_version=row.config_version if row else "",
            current_version=service.gateway.assignment(agent)[0],
        ))
    return out


