"""The probe and receiver registries are literal dicts: each key is its model's `kind` literal, names
that kind's own module, and no module that defines a kind model is left out."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

from monitor.alerts.receivers import RECEIVERS
from monitor.config import AnyCheck
from probes import CONFIGURABLE, PROBES


def test_config_union_kinds_are_the_probe_registry():
    union_kinds = {m.model_fields["kind"].default for m in AnyCheck.__origin__.__args__}
    assert union_kinds == set(CONFIGURABLE) == set(PROBES) - {"agent"}
    assert {"http", "tcp", "dns", "tls", "registry", "flow", "etcd"} <= set(PROBES)


def _modules_defining(package: str, name: str) -> set[str]:
    found = set()
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
        module = importlib.import_module(f"{package}.{info.name}")
        if isinstance(getattr(module, name, None), type):
            found.add(info.name)
    return found


@pytest.mark.parametrize(("package", "attr", "registry", "function"), [
    ("probes", "Check", PROBES, "probe"),
    ("monitor.alerts.receivers", "Receiver", RECEIVERS, "send"),
])
def test_each_kind_is_registered_once_under_its_own_literal(package, attr, registry, function):
    for key, entry in registry.items():
        assert entry.model.model_fields["kind"].default == key, f"{key!r} holds {entry.model!r}"
        assert entry.model.__module__ == f"{package}.{key}", f"{key!r} comes from {entry.model.__module__}"
        assert getattr(entry, function).__module__ == entry.model.__module__
    # a module that defines a kind model but is missing from the literal dict (or the reverse)
    assert _modules_defining(package, attr) == set(registry)
