"""`apprise`: the long tail of services (Telegram, Teams, Matrix, email, ntfy, …) through the
optional `apprise` library (`pip install 'platform-monitor[apprise]'`). Apprise is synchronous
(requests), so the send runs in a thread; its URLs hold credentials and are never shown."""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any, Literal

from pydantic import Field, field_validator

from monitor.alerts.receivers.base import DeliveryError, Notification, ReceiverBase

INSTALL_HINT = "the apprise receiver needs the apprise package: pip install 'platform-monitor[apprise]'"


class Receiver(ReceiverBase):
    kind: Literal["apprise"] = "apprise"
    urls: list[str] = Field(min_length=1)
    """Apprise service URLs (tgram://…, msteams://…, ntfy://…, json://…): all of them get each message."""
    secret_fields = frozenset({"urls"})

    @field_validator("urls")
    @classmethod
    def _installed(cls, value: list[str]) -> list[str]:
        if importlib.util.find_spec("apprise") is None:
            raise ValueError(INSTALL_HINT)
        return value


def _notify(urls: list[str], title: str, body: str, notify_type: str, timeout: float) -> Any:
    import apprise

    apobj = apprise.Apprise()
    for url in urls:
        if not apobj.add(url):
            raise DeliveryError("apprise refused one of the receiver's URLs", retryable=False)
    return apobj.notify(body=body, title=title, notify_type=notify_type, body_format=apprise.NotifyFormat.MARKDOWN)


async def send(cfg: Receiver, notification: Notification, client: Any) -> None:
    kind = {"resolved": "success", "reminder": "warning"}.get(str(notification.payload.get("type")), "failure")
    try:
        result = await asyncio.wait_for(
            asyncio.to_thread(_notify, cfg.urls, notification.title, notification.text, kind, cfg.timeout),
            cfg.timeout,
        )
    except TimeoutError:
        raise DeliveryError("timeout") from None
    if not result:
        # Apprise reports failures only as a boolean (and log lines): retry, the outbox bounds it
        raise DeliveryError("apprise: at least one service did not accept the message")
