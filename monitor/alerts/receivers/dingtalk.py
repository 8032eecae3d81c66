"""`dingtalk`: a DingTalk custom robot, markdown message, optionally signed (timestamp in ms and
`sign` in the query); success is `errcode == 0` (HTTP is 200 either way)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Literal
from urllib.parse import quote_plus

import httpx

from monitor.alerts.receivers.base import DeliveryError, HttpReceiverBase, Notification, post_json, response_json

THROTTLED = frozenset({130101, 130102, -1})  # sending too fast / system busy: try again later


class Receiver(HttpReceiverBase):
    kind: Literal["dingtalk"] = "dingtalk"
    url: str  # https://oapi.dingtalk.com/robot/send?access_token=...
    secret: str | None = None  # "SEC..." when the robot uses signing
    at_mobiles: list[str] = []
    at_all: bool = False
    rate_limit: int | None = 20  # DingTalk throttles a robot for 10 min past 20 messages a minute


def sign(secret: str, timestamp_ms: int) -> str:
    """URL-encoded base64(HMAC-SHA256(key=secret, msg="<timestamp>\\n<secret>"))."""
    mac = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(mac).decode())


async def send(cfg: Receiver, notification: Notification, client: httpx.AsyncClient) -> None:
    url = cfg.url
    if cfg.secret:
        ts = int(time.time() * 1000)
        url += ("&" if "?" in url else "?") + f"timestamp={ts}&sign={sign(cfg.secret, ts)}"
    text = notification.text
    if cfg.at_mobiles:
        text += "\n\n" + " ".join(f"@{m}" for m in cfg.at_mobiles)
    body = {
        "msgtype": "markdown",
        "markdown": {"title": notification.title, "text": text},
        "at": {"atMobiles": cfg.at_mobiles, "isAtAll": cfg.at_all},
    }
    data = response_json(await post_json(client, url, body, request_timeout=cfg.timeout))
    code = data.get("errcode", 0)
    if code != 0:
        raise DeliveryError(f"errcode {code}: {data.get('errmsg', '')}", retryable=code in THROTTLED)
