"""The `cronjobs:`, `workloads:` and `resources:` entries of a cluster: validated when loaded, with
errors naming their place."""

from __future__ import annotations

import pytest
import yaml

from monitor.config import ConfigError, parse_config


def load(**cluster):
    return parse_config(yaml.safe_dump({"clusters": [{"name": "prod-a", **cluster}]}), env={})


def test_entries_and_defaults():
    config = load(cronjobs=[{"namespace": "ops", "name": "etcd-backup", "max_age": "26h"}],
                  workloads=[{"namespace": "*", "kind": "DaemonSet"}],
                  resources=[{"api_version": "cert-manager.io/v1", "kind": "Certificate"}])
    cluster = config.clusters[0]
    assert cluster.cronjobs[0].max_age == 26 * 3600 and cluster.cronjobs[0].max_runtime is None
    assert cluster.resources[0].namespace == "*" and cluster.resources[0].conditions == {"Ready": "True"}
    # `Ready: True` unquoted is a YAML boolean: read as the status "True"
    text = "clusters: [{name: c, resources: [{api_version: v1, kind: Node, conditions: {Ready: True}}]}]"
    assert parse_config(text, env={}).clusters[0].resources[0].conditions == {"Ready": "True"}


@pytest.mark.parametrize(("entry", "error"), [
    ({"cronjobs": [{"namespace": "ops", "name": "a", "selector": "x=y"}]},
     "clusters[0].cronjobs[0]: give name or selector, not both"),
    ({"workloads": [{"namespace": "paas", "kind": "ReplicaSet"}]}, "clusters[0].workloads[0].kind: "),
    ({"resources": [{"api_version": "cert-manager.io", "kind": "Certificate"}]},
     "clusters[0].resources[0].api_version: "),
    ({"resources": [{"api_version": "v1", "kind": "Node", "conditions": {"Ready": "yes"}}]},
     "clusters[0].resources[0].conditions.Ready: "),
    ({"cronjobs": [{"namespace": "Ops_1"}]}, "clusters[0].cronjobs[0].namespace: "),
])
def test_errors_name_the_entry(entry, error):
    with pytest.raises(ConfigError) as caught:
        load(**entry)
    assert any(line.startswith(error) for line in caught.value.errors), caught.value.errors
