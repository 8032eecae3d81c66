"""Each receiver's `send` against a local server that checks what the real service checks:
DingTalk and Feishu signatures (computed here independently), WeCom and Slack bodies, Apprise's
generic JSON target, error classification, and sandboxed templates."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import httpx
import pytest
from jinja2.exceptions import SecurityError

from monitor.alerts.machine import AlertEvent, AlertRecord, Subject
from monitor.alerts.payload import build_payload
from monitor.alerts.receivers import RECEIVERS, DeliveryError
from monitor.alerts.receivers.base import TemplateConfig
from monitor.alerts.sender import render_for
from probes.base import Status
from tests.alerts.servers import RecordingServer, Request, WebhookReceiver

DING_SECRET = "SECa1b2c3d4e5f6"
FEISHU_SECRET = "feishu-secret-42"


def payload(type_: str = "firing") -> dict:
    subject = Subject("check:reg/pull", "check", "reg/pull", Status.DOWN, 1_700_000_000.0, "HTTP 503", Status.UP,
                      {"check": "reg/pull", "component": "registries", "kind": "registry", "severity": "critical"},
                      "critical")
    record = AlertRecord("check:reg/pull", "firing", 1_700_000_000.0, 1, True)
    event = AlertEvent("e" * 32, record.key, type_, 1_700_000_060.0, subject, record, ("check:reg/push",))
    return build_payload(event, public_url="http://pm.local:8080")


def receiver(kind: str, **fields):
    return RECEIVERS[kind].model(name=f"r-{kind}", kind=kind, **fields)


async def send(cfg, data: dict | None = None) -> None:
    async with httpx.AsyncClient() as client:
        await RECEIVERS[cfg.kind].send(cfg, render_for(cfg, data or payload()), client)


@pytest.fixture
def server():
    servers = []

    def make(answer=None) -> RecordingServer:
        s = RecordingServer(answer).start()
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop()


def ding_answer(request: Request) -> tuple[int, bytes]:
    """DingTalk's check: timestamp within an hour, sign = urlencode(base64(HMAC(secret, ts\\nsecret)))."""
    ts, sign = request.query["timestamp"][0], request.query["sign"][0]
    mac = hmac.new(DING_SECRET.encode(), f"{ts}\n{DING_SECRET}".encode(), hashlib.sha256).digest()
    fresh = abs(time.time() * 1000 - int(ts)) < 3600_000
    if not fresh or sign != base64.b64encode(mac).decode():  # parse_qs has URL-decoded it once
        return 200, json.dumps({"errcode": 310000, "errmsg": "sign not match"}).encode()
    return 200, b'{"errcode": 0, "errmsg": "ok"}'


async def test_dingtalk_signed_markdown(server):
    robot = server(ding_answer)
    cfg = receiver("dingtalk", url=f"{robot.url}/robot/send?access_token=tok", secret=DING_SECRET)
    await send(cfg)
    [request] = robot.requests
    body = request.json()
    assert request.query["access_token"] == ["tok"] and body["msgtype"] == "markdown"
    assert "reg/pull" in body["markdown"]["title"] and "HTTP 503" in body["markdown"]["text"]
    assert "1 dependent alert (check:reg/push)" in body["markdown"]["text"]
    wrong = receiver("dingtalk", url=f"{robot.url}/robot/send?access_token=tok", secret="SECwrong")
    with pytest.raises(DeliveryError) as info:
        await send(wrong)
    assert "310000" in info.value.reason and not info.value.retryable


def feishu_answer(request: Request) -> tuple[int, bytes]:
    """Feishu's check: key = "ts\\nsecret", empty message, seconds, in the body."""
    body = request.json()
    mac = hmac.new(f"{body['timestamp']}\n{FEISHU_SECRET}".encode(), b"", hashlib.sha256).digest()
    if body.get("sign") != base64.b64encode(mac).decode() or abs(time.time() - int(body["timestamp"])) > 3600:
        return 200, b'{"code": 19021, "msg": "sign match fail or timestamp is not within one hour"}'
    return 200, b'{"code": 0, "msg": "success"}'


async def test_feishu_signed_card(server):
    bot = server(feishu_answer)
    await send(receiver("feishu", url=f"{bot.url}/open-apis/bot/v2/hook/abc", secret=FEISHU_SECRET))
    card = bot.requests[0].json()["card"]
    assert card["header"]["template"] == "red" and "reg/pull" in card["header"]["title"]["content"]
    assert "HTTP 503" in card["elements"][0]["text"]["content"]
    with pytest.raises(DeliveryError) as info:
        await send(receiver("feishu", url=f"{bot.url}/open-apis/bot/v2/hook/abc", secret="other"))
    assert "19021" in info.value.reason


async def test_wecom_markdown_and_throttling_is_retryable(server):
    answers = iter([(200, b'{"errcode": 0, "errmsg": "ok"}'), (200, b'{"errcode": 45009, "errmsg": "freq"}')])
    bot = server(lambda request: next(answers))
    cfg = receiver("wecom", url=f"{bot.url}/cgi-bin/webhook/send?key=k1")
    await send(cfg)
    assert bot.requests[0].json()["markdown"]["content"].startswith("### 🔴 FIRING")
    with pytest.raises(DeliveryError) as info:
        await send(cfg)
    assert info.value.retryable


async def test_slack_text_and_http_errors_are_classified(server):
    answers = iter([(200, b"ok"), (404, b"no_team"), (503, b"")])
    hook = server(lambda request: next(answers))
    cfg = receiver("slack", url=f"{hook.url}/services/T1/B1/x")
    await send(cfg, payload("resolved"))
    assert hook.requests[0].json()["text"].startswith("### ✅ RESOLVED")
    with pytest.raises(DeliveryError) as rejected:
        await send(cfg)
    assert rejected.value.reason == "HTTP 404: no_team" and not rejected.value.retryable
    with pytest.raises(DeliveryError) as unavailable:
        await send(cfg)
    assert unavailable.value.retryable


async def test_webhook_signature_verifies_and_a_tampered_body_does_not(server):
    hook = WebhookReceiver("s3cret").start()
    try:
        cfg = receiver("webhook", url=f"{hook.url}/in", secret="s3cret")
        await send(cfg)
        [(key, type_)] = hook.events()
        assert (key, type_) == ("check:reg/pull", "firing")
        request = hook.requests[0]
        assert request.headers["idempotency-key"] == "e" * 32
        assert request.headers["x-platform-monitor-event"] == "firing"
        with pytest.raises(DeliveryError) as info:  # a receiver knowing another secret refuses it
            await send(receiver("webhook", url=f"{hook.url}/in", secret="other"))
        assert info.value.reason.startswith("HTTP 401") and not info.value.retryable
    finally:
        hook.stop()


async def test_apprise_posts_to_a_generic_json_target(server):
    target = server(lambda request: (200, b"{}"))
    cfg = receiver("apprise", urls=[f"json://127.0.0.1:{target.port}/notify"])
    await send(cfg)
    [request] = target.requests
    body = request.json()
    assert "reg/pull" in body["title"] and "HTTP 503" in body["message"]
    target.answer = lambda request: (500, b"")
    with pytest.raises(DeliveryError) as info:
        await send(cfg)
    assert info.value.retryable


def test_templates_override_per_receiver_and_are_sandboxed():
    cfg = receiver("slack", url="https://hooks.slack.com/services/x",
                   template=TemplateConfig(title="{{ alert.check }}!", text="{{ state.new | upper }} {{ summary }}"))
    note = render_for(cfg, payload())
    assert note.title == "reg/pull!" and note.text.startswith("DOWN reg/pull is down")
    evil = receiver("slack", url="https://hooks.slack.com/services/x",
                    template=TemplateConfig(text="{{ summary.__class__.__mro__[1].__subclasses__() }}"))
    with pytest.raises(SecurityError):
        render_for(evil, payload())
    with pytest.raises(ValueError, match="invalid template"):
        TemplateConfig(text="{% if %}")


def test_dingtalk_sign_is_url_encoded_base64_of_the_hmac():
    from urllib.parse import quote_plus

    from monitor.alerts.receivers.dingtalk import sign

    raws = []
    for ts in range(1_700_000_000_000, 1_700_000_000_050):
        mac = hmac.new(DING_SECRET.encode(), f"{ts}\n{DING_SECRET}".encode(), hashlib.sha256).digest()
        raws.append(base64.b64encode(mac).decode())
        assert sign(DING_SECRET, ts) == quote_plus(raws[-1])
    assert any("+" in raw or "/" in raw for raw in raws)  # the cases where encoding matters occurred
