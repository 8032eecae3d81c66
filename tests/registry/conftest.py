"""Fixtures for the registry probe tests: a probe context over a fresh client pool, a token server
and a Harbor double (tests/registry/servers.py); real registries come from docker_registry_factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from probes.base import ProbeContext
from probes.clients import ClientPool
from tests.registry.servers import HarborDouble, TokenServer


@pytest.fixture
async def ctx() -> AsyncIterator[ProbeContext]:
    pool = ClientPool()
    yield ProbeContext(logging.getLogger("tests.registry"), pool)
    await pool.aclose()


@pytest.fixture
def token_server(tmp_path: Path) -> Iterator[TokenServer]:
    """A token server for distribution's token auth, with user robot/s3cret."""
    server = TokenServer(tmp_path, {"robot": "s3cret"})
    yield server
    server.close()


@pytest.fixture
def harbor() -> Iterator[HarborDouble]:
    """A Harbor double with user robot/s3cret and every component healthy."""
    server = HarborDouble({"robot": "s3cret"})
    yield server
    server.close()
