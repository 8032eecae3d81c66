"""Fixtures of the agent and API probe tests: a probe context over a fresh client pool, the local
PaaS-like API (one server per module, its knobs reset per test), and the private database servers (db_servers.py)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from probes.base import ProbeContext
from probes.clients import ClientPool
from tests.peers import free_port
from tests.services.db_servers import mysql_pair, pg_pair, redis_replica
from tests.services.paas_api import Knobs, create_api
from tests.targets import ServiceThread

__all__ = ["Api", "api", "ctx", "mysql_pair", "pg_pair", "redis_replica"]


@pytest.fixture
async def ctx() -> AsyncIterator[ProbeContext]:
    pool = ClientPool()
    yield ProbeContext(logging.getLogger("tests.services"), pool)
    await pool.aclose()


@dataclass
class Api:
    url: str
    knobs: Knobs


@pytest.fixture(scope="module")
def _api_server() -> Iterator[Api]:
    knobs = Knobs()
    server = ServiceThread(create_api(knobs), free_port()).start()
    try:
        yield Api(server.url, knobs)
    finally:
        server.stop()


@pytest.fixture
def api(_api_server: Api) -> Api:
    """The PaaS-like API at `api.url`; `api.knobs` breaks or slows paths and records requests."""
    knobs = _api_server.knobs
    knobs.broken.clear()
    knobs.delay.clear()
    knobs.seen.clear()
    return _api_server
