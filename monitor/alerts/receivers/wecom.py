"""`wecom`: a WeCom (企业微信) group robot, markdown message (at most 4096 bytes); the `key` in
the URL is the secret; success is `errcode == 0`."""

from __future__ import annotations

from typing import Literal

import httpx

from monitor.alerts.receivers.base import DeliveryError, HttpReceiverBase, Notification, post_json, response_json

MAX_MARKDOWN_BYTES = 4096
THROTTLED = frozenset({45009, -1})  # API frequency limit / system busy


class Receiver(HttpReceiverBase):
    kind: Literal["wecom"] = "wecom"
    url: str  # https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...
    rate_limit: int | None = 20  # 20 messages a minute per robot


def truncate_bytes(text: str, limit: int) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode(errors="ignore") + "…"


async def send(cfg: Receiver, notification: Notification, client: httpx.AsyncClient) -> None:
    body = {"msgtype": "markdown", "markdown": {"content": truncate_bytes(notification.text, MAX_MARKDOWN_BYTES)}}
    data = response_json(await post_json(client, cfg.url, body, request_timeout=cfg.timeout))
    code = data.get("errcode", 0)
    if code != 0:
        raise DeliveryError(f"errcode {code}: {data.get('errmsg', '')}", retryable=code in THROTTLED)
