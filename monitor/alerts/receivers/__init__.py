"""The receiver registry: one literal entry per kind, mapping the kind to its config model and its
`send`; the config's receiver union is built from this dict. A new receiver is one module plus
one line here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from monitor.alerts.receivers import (
    alertmanager,
    apprise,
    dingtalk,
    feishu,
    slack,
    webhook,
    wecom,
)
from monitor.alerts.receivers.base import DeliveryError, Notification, ReceiverBase

__all__ = ["RECEIVERS", "DeliveryError", "Notification", "ReceiverBase", "ReceiverKind"]

SendFn = Callable[[Any, Notification, Any], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class ReceiverKind:
    model: type[ReceiverBase]
    send: SendFn


RECEIVERS: dict[str, ReceiverKind] = {
    "alertmanager": ReceiverKind(alertmanager.Receiver, alertmanager.send),
    "apprise": ReceiverKind(apprise.Receiver, apprise.send),
    "dingtalk": ReceiverKind(dingtalk.Receiver, dingtalk.send),
    "feishu": ReceiverKind(feishu.Receiver, feishu.send),
    "slack": ReceiverKind(slack.Receiver, slack.send),
    "webhook": ReceiverKind(webhook.Receiver, webhook.send),
    "wecom": ReceiverKind(wecom.Receiver, wecom.send),
}
