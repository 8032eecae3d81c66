"""`feishu`: a Feishu/Lark custom bot, an interactive card with markdown, optionally signed
(seconds timestamp and `sign` in the body; the key is "<timestamp>\\n<secret>", the message
empty). Success is `code == 0`. The hook URL's path is the secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Literal

import httpx

from monitor.alerts.receivers.base import DeliveryError, HttpReceiverBase, Notification, post_json, response_json

THROTTLED = frozenset({9499, 11232, 11233})  # frequency limits: try again later
MAX_BODY_BYTES = 20_000  # Feishu refuses bodies over 20 KB
COLOURS = {"firing": "red", "reminder": "orange", "resolved": "green"}


class Receiver(HttpReceiverBase):
    kind: Literal["feishu"] = "feishu"
    url: str  # https://open.feishu.cn/open-apis/bot/v2/hook/<id> (Lark: open.larksuite.com)
    secret: str | None = None
    rate_limit: int | None = 100  # 100 messages a minute per bot
    url_path_is_secret = True


def sign(secret: str, timestamp_s: int) -> str:
    """base64(HMAC-SHA256(key="<timestamp>\\n<secret>", msg=b"")): key and message are the other
    way round from DingTalk's, and the timestamp is in seconds."""
    mac = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


async def send(cfg: Receiver, notification: Notification, client: httpx.AsyncClient) -> None:
    text = notification.text
    if len(text.encode()) > MAX_BODY_BYTES - 2000:
        text = text.encode()[: MAX_BODY_BYTES - 2000].decode(errors="ignore") + "…"
    body: dict = {
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": True},
            "header": {
                "title": {"tag": "plain_text", "content": notification.title},
                "template": COLOURS.get(str(notification.payload.get("type")), "blue"),
            },
            "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": text}}],
        },
    }
    if cfg.secret:
        ts = int(time.time())
        body = {"timestamp": str(ts), "sign": sign(cfg.secret, ts), **body}
    data = response_json(await post_json(client, cfg.url, body, request_timeout=cfg.timeout))
    code = data.get("code", data.get("StatusCode", 0))
    if code != 0:
        raise DeliveryError(f"code {code}: {data.get('msg', '')}", retryable=code in THROTTLED)
