"""Fixtures shared by every test. Real peers (servers and databases) come from peer_servers.py and
peer_databases.py, built on peers.py; tests import helpers as `from tests.peers import ...`."""

from pathlib import Path

import pytest

from tests.peer_databases import any_db, any_db_url, mysql_url, postgres_url, redis_url
from tests.peer_servers import (
    alertmanager,
    alertmanager_factory,
    blackbox_exporter,
    blackbox_exporter_factory,
    docker_registry_factory,
    etcd_factory,
    nginx_factory,
    node_exporter,
    node_exporter_factory,
    prometheus_factory,
)
from tests.peers import peer_stack

# Re-exported so that pytest registers them as fixtures for every test below tests/.
__all__ = [
    "alertmanager",
    "alertmanager_factory",
    "any_db",
    "any_db_url",
    "blackbox_exporter",
    "blackbox_exporter_factory",
    "docker_registry_factory",
    "etcd_factory",
    "mysql_url",
    "nginx_factory",
    "node_exporter",
    "node_exporter_factory",
    "peer_stack",
    "postgres_url",
    "prometheus_factory",
    "redis_url",
]


SERIAL_FILES = {
    "tests/drill/test_failure_drill.py": "bounds on lag and answer times while targets and databases misbehave",
    "tests/alerts/test_delivery.py": "retry and backoff times of deliveries through a receiver outage",
    "tests/test_scheduler_stall.py": "scheduling lag under a stalled event loop",
    "tests/test_scheduler_slots.py": "runs counted per interval slot",
    "tests/scaleout/test_watchdog_leader.py": "the watchdog's period across a leader's death",
    "tests/remote/test_centre_state.py": "a centre restarted under buffered pushes: once lost its history under load",
}
"""Files whose assertions are bounds on time that CPU taken by other tests would blur: marked
`serial`, so that scripts/test.sh runs them after the others, with no other test beside them."""


def pytest_collection_modifyitems(config, items) -> None:
    root = Path(__file__).resolve().parent.parent
    for item in items:
        path = Path(str(item.fspath)).resolve()
        if path.is_relative_to(root) and path.relative_to(root).as_posix() in SERIAL_FILES:
            item.add_marker(pytest.mark.serial)
