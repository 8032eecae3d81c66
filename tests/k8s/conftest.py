"""Fixtures for the Kubernetes probe tests: the fake apiserver, a config pointing at it through a
kubeconfig file, and an engine (no storage) with its cluster discovery."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config import Config, parse_config
from monitor.discovery import ClusterDiscovery
from monitor.engine import Engine
from probes.base import Result, format_duration, parse_duration
from probes.kube import kube_clients
from tests.k8s.fake_apiserver import FakeApiServer


@pytest.fixture
def apiserver(tmp_path: Path) -> Iterator[FakeApiServer]:
    fake = FakeApiServer(tmp_path)
    yield fake
    fake.stop()


def cluster_config(kubeconfig: Path | None, **cluster: Any) -> Config:
    entry: dict[str, Any] = {"name": "prod-a", "interval": "30s", **cluster}
    # 3 s, or the interval when it is shorter (a timeout must not exceed the interval)
    entry.setdefault("timeout", format_duration(min(3.0, parse_duration(entry["interval"]))))
    if kubeconfig is not None:
        entry.setdefault("kubeconfig", str(kubeconfig))
    return parse_config(yaml.safe_dump({"clusters": [entry]}), env={})


def discovery_of(engine: Engine) -> ClusterDiscovery:
    """Cluster discovery wired to `engine` as the service wires it."""
    return ClusterDiscovery(config=lambda: engine.config, kube=lambda: kube_clients(engine.ctx),
                            publish=engine.set_discovered)


class Harness:
    """An engine on a cluster config, its discovery part, and helpers to run every check once."""

    def __init__(self, config: Config) -> None:
        self.engine = Engine(config)
        self.discovery = discovery_of(self.engine)

    async def run(self, ids: list[str] | None = None) -> dict[str, Result]:
        return await self.engine.run_once(ids)

    async def wait_checks(self, predicate, within: float = 10.0) -> set[str]:
        deadline = time.monotonic() + within
        while True:
            ids = set(self.engine.checks)
            if predicate(ids):
                return ids
            if time.monotonic() > deadline:
                raise AssertionError(f"checks never matched; now: {sorted(ids)}")
            await asyncio.sleep(0.05)


@pytest.fixture
async def harness_factory() -> AsyncIterator:
    made: list[Harness] = []

    async def make(config: Config, *, discover: bool = True) -> Harness:
        harness = Harness(config)
        if discover:
            await harness.discovery.start()
        made.append(harness)
        return harness

    yield make
    for harness in made:
        await harness.discovery.stop()
        await harness.engine.stop()
