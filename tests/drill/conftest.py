"""The fault and bad-input drill (issue 9), kept as tests: a hostile user, a hostile target, a broken
config and a failing database, on every run. Every test below this folder carries the `drill`
marker, so `pytest -m drill` repeats the drill alone."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = __file__.rsplit("/", 1)[0]
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.drill)
