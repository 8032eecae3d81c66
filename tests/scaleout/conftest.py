"""What every multi-process test here needs: the counting target the checks probe, and the webhook
sink that counts alert deliveries."""

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
