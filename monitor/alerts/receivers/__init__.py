"""The receiver registry: one entry per kind, mapping the kind to its config model and its
`send`. Every module of this package that defines `Receiver` (a ReceiverBase with a `kind`
literal) and `async def send(cfg, notification, client)` is a kind; the config's receiver union
is built from this dict."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from monitor.alerts.receivers.base import DeliveryError, Notification, ReceiverBase

__all__ = ["RECEIVERS", "DeliveryError", "Notification", "ReceiverBase", "ReceiverKind"]

SendFn = Callable[[Any, Notification, Any], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class ReceiverKind:
    model: type[ReceiverBase]
    send: SendFn


def _registry() -> dict[str, ReceiverKind]:
    kinds: dict[str, ReceiverKind] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name == "base" or info.name.startswith("_") or info.ispkg:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        model = getattr(module, "Receiver", None)
        if model is None:
            continue
        kind = model.model_fields["kind"].default
        if kind in kinds:
            raise RuntimeError(f"receiver kind {kind!r} is defined twice (receivers.{info.name})")
        kinds[kind] = ReceiverKind(model, module.send)
    return kinds


RECEIVERS: dict[str, ReceiverKind] = _registry()
