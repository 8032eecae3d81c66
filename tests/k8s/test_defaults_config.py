"""The clusters: section: validation, and the built-in default config watching the current
kubeconfig context's cluster."""

from __future__ import annotations

import pytest
import yaml

from monitor.config import ConfigError, parse_config
from monitor.defaults import default_config


def test_default_config_adds_the_current_context_and_says_so(apiserver, monkeypatch, tmp_path, caplog):
    kubeconfig = apiserver.write_kubeconfig(context="arn:aws:eks:eu-west-1:1234:cluster/prod")
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}:{kubeconfig}")
    with caplog.at_level("WARNING", logger="monitor.defaults"):
        config = default_config(storage="sqlite://")
    [warning] = [r.getMessage() for r in caplog.records if r.name == "monitor.defaults"]
    assert "also watching the cluster of the current kubeconfig context 'arn:aws:eks:eu-west-1:1234:cluster/prod'" \
        in warning and str(kubeconfig) in warning and "--config FILE" in warning
    assert [c.name for c in config.clusters] == ["arn-aws-eks-eu-west-1-1234-cluster-prod"]
    assert config.clusters[0].context == "arn:aws:eks:eu-west-1:1234:cluster/prod"
    ids = set(config.check_by_id())
    assert "arn-aws-eks-eu-west-1-1234-cluster-prod/control-plane/apiserver-readyz" in ids
    assert "platform-monitor/healthz" in ids

    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    caplog.clear()
    assert default_config(storage="sqlite://").clusters == []
    assert not [r for r in caplog.records if r.name == "monitor.defaults"]


def test_cluster_section_errors_are_placed():
    with pytest.raises(ConfigError) as err:
        parse_config(yaml.safe_dump({"clusters": [
            {"name": "a", "in_cluster": True, "context": "x"},
            {"name": "b", "probes": {"kubelett": True}},
            {"name": "a"},
        ]}), env={})
    text = "\n".join(err.value.errors)
    assert "in_cluster uses the pod's service account" in text
    assert "clusters[1].probes.kubelett: unknown key: did you mean `kubelet`?" in text


def test_defaults_apply_to_clusters_and_duplicate_names_are_refused():
    config = parse_config("defaults: {interval: 45s, failure_threshold: 3}\nclusters: [{name: a}]\n", env={})
    livez = config.check_by_id()["a/control-plane/apiserver-livez"]
    assert livez.interval == 45 and livez.failure_threshold == 3
    with pytest.raises(ConfigError, match="name 'a' is already used by clusters"):
        parse_config("clusters: [{name: a}, {name: a}]\n", env={})
