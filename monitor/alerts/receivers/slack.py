"""`slack`: a Slack incoming webhook (`{"text": ...}`, answered `ok`). The URL is the secret."""

from __future__ import annotations

from typing import Literal

import httpx

from monitor.alerts.receivers.base import HttpReceiverBase, Notification, post_json


class Receiver(HttpReceiverBase):
    kind: Literal["slack"] = "slack"
    url: str
    rate_limit: int | None = 60  # Slack allows about one message per second per webhook
    url_path_is_secret = True


async def send(cfg: Receiver, notification: Notification, client: httpx.AsyncClient) -> None:
    await post_json(client, cfg.url, {"text": notification.text}, request_timeout=cfg.timeout)
