"""`alertmanager`: pushes alerts to Alertmanager's v2 API (`POST /api/v2/alerts`) so its routing,
grouping, inhibition and silences apply. Firing alerts carry an `endsAt` a few re-send intervals
ahead and are re-sent while they fire (`refresh`); a resolution sends an `endsAt` in the past."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import httpx
from pydantic import Field

from monitor.alerts.receivers.base import HttpReceiverBase, Notification, post_json
from probes.base import Duration

ENDS_AT_INTERVALS = 4  # a firing alert's endsAt: this many re-send intervals ahead
_LABEL_NAME = re.compile(r"[^A-Za-z0-9_]")
CORE_LABELS = ("check", "component", "kind", "severity")


class Receiver(HttpReceiverBase):
    kind: Literal["alertmanager"] = "alertmanager"
    url: str  # base URL, e.g. http://alertmanager:9093
    resend_interval: Annotated[Duration, Field(gt=0)] = 60.0
    """How often firing alerts are sent again (Alertmanager resolves alerts it stops hearing of)."""
    alertname: str = "PlatformMonitorCheckDown"
    component_alertname: str = "PlatformMonitorComponentDown"
    extra_labels: dict[str, str] = {}


def _label_name(name: str) -> str:
    clean = _LABEL_NAME.sub("_", name)
    return clean if clean and not clean[0].isdigit() else f"_{clean}"


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alert(cfg: Receiver, payload: Mapping[str, Any], *, now: datetime, title: str = "", text: str = "",
          alertname: str | None = None, ends_at: datetime | None = None) -> dict:
    """One Alertmanager alert from our event payload. `alertname` and `ends_at` replace the
    receiver's alert names and the firing alert's end (the watchdog sets both)."""
    info = payload["alert"]
    labels = {_label_name(k): str(v) for k, v in (info.get("labels") or {}).items()}
    labels.update({_label_name(k): str(v) for k, v in cfg.extra_labels.items()})
    for name in CORE_LABELS:
        if info.get(name):
            labels[name] = str(info[name])
    is_component = info.get("subject") == "component"
    labels["alertname"] = alertname or (cfg.component_alertname if is_component else cfg.alertname)
    starts = datetime.fromisoformat(payload["starts_at"])
    if payload["status"] == "resolved":
        ended = datetime.fromisoformat(payload["ends_at"] or payload["event_at"])
        ends = max(ended, starts + timedelta(milliseconds=1))  # Alertmanager wants start < end
    else:
        ends = ends_at or now + timedelta(seconds=cfg.resend_interval * ENDS_AT_INTERVALS)
    annotations = {"summary": title or payload.get("summary", ""), "reason": payload["state"].get("reason", "")}
    if text:
        annotations["description"] = text
    if payload.get("covers", {}).get("count"):
        annotations["covers"] = str(payload["covers"]["count"])
    return {
        "labels": labels,
        "annotations": {k: v for k, v in annotations.items() if v},
        "startsAt": _rfc3339(starts),
        "endsAt": _rfc3339(ends),
        "generatorURL": payload.get("links", {}).get("ui", ""),
    }


async def post(cfg: Receiver, alerts: Sequence[Mapping[str, Any]], client: httpx.AsyncClient) -> None:
    """POST alerts built by `alert` to Alertmanager (DeliveryError when it does not take them)."""
    await post_json(client, cfg.url.rstrip("/") + "/api/v2/alerts", list(alerts), request_timeout=cfg.timeout)


async def refresh(cfg: Receiver, payloads: Sequence[Mapping[str, Any]], client: httpx.AsyncClient) -> None:
    """Send every still-firing alert again in one request (not a notification: no outbox)."""
    if payloads:
        now = datetime.now(UTC)
        await post(cfg, [alert(cfg, p, now=now) for p in payloads], client)


async def send(cfg: Receiver, notification: Notification, client: httpx.AsyncClient) -> None:
    body = alert(cfg, notification.payload, now=datetime.now(UTC), title=notification.title, text=notification.text)
    await post(cfg, [body], client)
