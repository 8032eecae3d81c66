"""Routing: which receivers get an alert, from its labels and the configured routes. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from monitor.alerts.config import Route

__all__ = ["route"]


def route(routes: Sequence[Route], labels: dict[str, str], receivers: Sequence[str]) -> list[str]:
    """Receiver names for an alert with `labels`, in route order without repeats. With no routes
    configured every receiver gets every alert."""
    if not routes:
        return list(receivers)
    chosen: list[str] = []
    for r in routes:
        if r.matches(labels):
            chosen.extend(name for name in r.receivers if name not in chosen)
            if not r.continue_:
                break
    return chosen
