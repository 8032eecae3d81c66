"""`webhook`: our versioned JSON payload (docs/alert-webhook.md), signed with HMAC-SHA256 over
"<timestamp>." + body so receivers can verify it and refuse replays."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Literal

import httpx

from monitor.alerts.receivers.base import HttpReceiverBase, Notification, post_json

TIMESTAMP_HEADER = "X-Platform-Monitor-Timestamp"
SIGNATURE_HEADER = "X-Platform-Monitor-Signature"
EVENT_HEADER = "X-Platform-Monitor-Event"
IDEMPOTENCY_HEADER = "Idempotency-Key"


class Receiver(HttpReceiverBase):
    kind: Literal["webhook"] = "webhook"
    url: str
    secret: str | None = None
    headers: dict[str, str] = {}
    secret_fields = frozenset({"secret", "headers"})


def body_bytes(payload: object) -> bytes:
    """The exact bytes sent: the same for every attempt of one event."""
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


async def send(cfg: Receiver, notification: Notification, client: httpx.AsyncClient) -> None:
    body = body_bytes(notification.payload)
    headers = {
        **cfg.headers,
        EVENT_HEADER: str(notification.payload["type"]),
        IDEMPOTENCY_HEADER: str(notification.payload["idempotency_key"]),
    }
    if cfg.secret:
        timestamp = str(int(time.time()))
        headers[TIMESTAMP_HEADER] = timestamp
        headers[SIGNATURE_HEADER] = signature(cfg.secret, timestamp, body)
    await post_json(client, cfg.url, None, request_timeout=cfg.timeout, headers=headers, content=body)
