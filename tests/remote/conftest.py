"""The centre's side of agents, tested against a real `serve` process: requests made as an agent
makes them (tests/remote/wire.py), a target that counts probes, a webhook sink that counts alerts."""

from __future__ import annotations

import pytest

from tests.alerts.servers import WebhookReceiver
from tests.peers import free_port
from tests.scaleout.harness import SECRET, CountingTarget


@pytest.fixture
def target():
    t = CountingTarget()
    yield t
    t.close()


@pytest.fixture
def hook():
    receiver = WebhookReceiver(SECRET, port=free_port()).start()
    yield receiver
    receiver.stop()
