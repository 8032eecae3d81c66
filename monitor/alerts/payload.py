"""The versioned event payload (docs/alert-webhook.md): what the outbox stores, what webhooks
receive, what templates and the other receivers render from. Pure data building."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote

from monitor.alerts.machine import COVERS_LISTED, RESOLVED, AlertEvent
from monitor.instants import iso_text

__all__ = ["PAYLOAD_VERSION", "WATCHDOG_KEY", "WATCHDOG_LABELS", "build_payload", "build_watchdog_payload",
           "fingerprint"]

PAYLOAD_VERSION = "1"
WATCHDOG_KEY = "watchdog"
WATCHDOG_LABELS = {"alertname": "Watchdog", "severity": "none", "subject": "watchdog"}
WATCHDOG_SUMMARY = "platform-monitor is running; this alert fires for as long as it is alive"


def fingerprint(key: str) -> str:
    """A stable short id of the alert (not of one event): the same across episodes."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def build_payload(event: AlertEvent, *, public_url: str, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """The payload of one event. `previous` is the alert's last payload (a resolution and a
    retired subject take the alert's description from it)."""
    subject, record = event.subject, event.record
    labels = dict(subject.labels) or dict((previous or {}).get("alert", {}).get("labels", {}))
    is_check = subject.kind == "check"
    resolved = event.type == RESOLVED
    old = subject.previous.value
    if resolved and previous:
        old = previous.get("state", {}).get("new", old)
    base = public_url.rstrip("/")
    path = f"checks/{quote(subject.id, safe='/')}" if is_check else f"components/{quote(subject.id, safe='/')}"
    summary = f"{subject.id} is {subject.status.value}" + (f": {subject.reason}" if subject.reason else "")
    if resolved:
        summary = f"{subject.id} recovered ({subject.status.value})"
    core = {k: labels.get(k) for k in ("component", "kind", "severity")}
    return {
        "version": PAYLOAD_VERSION,
        "event_id": event.event_id,
        "idempotency_key": event.event_id,
        "type": event.type,
        "status": "resolved" if resolved else "firing",
        "summary": summary,
        "alert": {
            "key": record.key,
            "subject": subject.kind,
            "id": subject.id,
            "check": subject.id if is_check else None,
            **core,
            "labels": labels,
            "fingerprint": fingerprint(record.key),
        },
        "state": {"old": old, "new": subject.status.value, "reason": subject.reason},
        "starts_at": iso_text(record.episode_start),
        "ends_at": iso_text(record.resolved_at) if resolved else None,
        "event_at": iso_text(event.at),
        "reminder": (previous or {}).get("reminder", 0) + 1 if event.type == "reminder" else 0,
        "covers": {"count": len(event.covers), "subjects": list(event.covers[:COVERS_LISTED])},
        "links": {
            "ui": f"{base}/{path}",
            "api": f"{base}/api/v1/{path}",
            "alerts": f"{base}/api/v1/alerts",
        },
    }


def build_watchdog_payload(*, event_id: str, beat: int, started_at: float, now: float,
                           public_url: str) -> dict[str, Any]:
    """The payload of one heartbeat of the dead man's switch (`alerts.watchdog`): always firing,
    in the schema of every other alert. `beat` counts the heartbeats since this process began
    sending them at `started_at`: the first is a `firing`, the later ones `reminder`s."""
    base = public_url.rstrip("/")
    return {
        "version": PAYLOAD_VERSION,
        "event_id": event_id,
        "idempotency_key": event_id,
        "type": "reminder" if beat else "firing",
        "status": "firing",
        "summary": WATCHDOG_SUMMARY,
        "alert": {
            "key": WATCHDOG_KEY,
            "subject": "watchdog",
            "id": WATCHDOG_KEY,
            "check": None,
            "component": None,
            "kind": "watchdog",
            "severity": WATCHDOG_LABELS["severity"],
            "labels": dict(WATCHDOG_LABELS),
            "fingerprint": fingerprint(WATCHDOG_KEY),
        },
        "state": {"old": "up", "new": "up", "reason": ""},
        "starts_at": iso_text(started_at),
        "ends_at": None,
        "event_at": iso_text(now),
        "reminder": beat,
        "covers": {"count": 0, "subjects": []},
        "links": {"ui": f"{base}/", "api": f"{base}/api/v1/checks", "alerts": f"{base}/api/v1/alerts"},
    }
