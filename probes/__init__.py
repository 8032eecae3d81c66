"""The probe registry: one entry per kind, mapping the kind to its config model and its probe
function. The config loader builds its discriminated union from this dict, so a kind exists in
both places or in neither."""

from __future__ import annotations

from dataclasses import dataclass

from probes.base import CheckBase, ProbeContext, ProbeFn, Result, Status

__all__ = ["PROBES", "CheckBase", "ProbeContext", "ProbeKind", "Result", "Status"]


@dataclass(frozen=True, slots=True)
class ProbeKind:
    model: type[CheckBase]
    probe: ProbeFn


def _registry() -> dict[str, ProbeKind]:
    from probes import dns, http, tcp, tls

    kinds = {}
    for module in (http, tcp, dns, tls):
        kind = module.Check.model_fields["kind"].default
        kinds[kind] = ProbeKind(module.Check, module.probe)
    return kinds


PROBES: dict[str, ProbeKind] = _registry()
