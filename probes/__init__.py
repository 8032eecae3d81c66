"""The probe registry: one entry per kind, mapping the kind to its config model and its probe
function. Every module of this package that defines `Check` (a CheckBase with a `kind` literal)
and `async def probe(cfg, ctx)` is a kind; the config loader builds its discriminated union from
this dict, so a kind exists in both places or in neither."""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass

from probes.base import CheckBase, ProbeContext, ProbeFn, Result, Status

__all__ = ["PROBES", "CheckBase", "ProbeContext", "ProbeKind", "Result", "Status"]

_NOT_KINDS = frozenset({"base", "clients"})  # shared modules; topic helpers just lack `Check`


@dataclass(frozen=True, slots=True)
class ProbeKind:
    model: type[CheckBase]
    probe: ProbeFn


def _registry() -> dict[str, ProbeKind]:
    kinds: dict[str, ProbeKind] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name in _NOT_KINDS or info.name.startswith("_") or info.ispkg:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        model = getattr(module, "Check", None)
        if model is None:
            continue
        kind = model.model_fields["kind"].default
        if kind in kinds:
            raise RuntimeError(f"probe kind {kind!r} is defined twice (probes.{info.name})")
        kinds[kind] = ProbeKind(model, module.probe)
    return kinds


PROBES: dict[str, ProbeKind] = _registry()
