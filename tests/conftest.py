"""Fixtures shared by every test. Real peers (servers and databases) come from peer_servers.py and
peer_databases.py, built on peers.py; tests import helpers as `from tests.peers import ...`."""

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
