"""The registry_sync probe against two real registries (Debian's docker-registry): a dev/test source
with htpasswd auth over HTTP and a production target over HTTPS (a private CA) with token auth;
images pushed through the API, a tag moved in one and not the other, a registry stopped. Harbor's
replication executions come from the Harbor double (tests/registry/servers.py)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from monitor.config import ConfigError, parse_config
from monitor.engine import Engine
from monitor.redact import REDACTED, redact_settings
from probes.base import Status
from probes.registry_sync import Check, probe
from tests.peer_servers import RegistryPeer
from tests.pki import TlsFiles, make_tls_files
from tests.registry.images import Image, Pusher, canary
from tests.registry.servers import TokenServer, replication_execution, replication_policy

CANARY, API = "platform/canary:stable", "paas/api:release"
SOURCE_PASSWORD, TARGET_PASSWORD = "s3cret-dev-pw", "pr0d-token-pw"
HOUR = 3600.0
ROBOT = {"username": "robot", "password": "s3cret"}


def clock(at: float) -> str:
    """How a reason spells a moment: the UTC time, with the date when it is not today."""
    same_day = time.gmtime(at)[:3] == time.gmtime()[:3]
    return time.strftime("%H:%M UTC" if same_day else "%Y-%m-%d %H:%M UTC", time.gmtime(at))


def short(digest: str) -> str:
    return digest[: len("sha256:") + 12] + "…"


@dataclass
class Pair:
    """A source registry (htpasswd, HTTP) and a target registry (token auth, HTTPS)."""

    source: RegistryPeer
    target: RegistryPeer
    token_server: TokenServer
    pki: TlsFiles

    def push(self, side: str, image_ref: str, image: Image) -> str:
        name, tag = image_ref.rsplit(":", 1)
        if side == "source":
            pusher = Pusher(self.source.url, auth=self.source.auth)
        else:
            pusher = Pusher(self.target.url, authorization=f"Bearer {self.token_server.push_token(name)}",
                            verify=self.target.ready_client["verify"])
        try:
            return pusher.image(name, tag, image)
        finally:
            pusher.close()

    def check(self, *, target_password: str = TARGET_PASSWORD, **settings) -> Check:
        return Check(
            name="canary-promoted", component="registries", timeout=10,
            source={"url": self.source.url, "auth": {"username": "robot", "password": SOURCE_PASSWORD}},
            target={"url": self.target.url, "auth": {"username": "robot", "password": target_password},
                    "tls": {"ca_file": self.pki.ca_file}},
            **{"images": [CANARY, API], **settings},
        )


@pytest.fixture
def pair(docker_registry_factory, tmp_path) -> Iterator[Pair]:
    pki = make_tls_files(tmp_path / "pki")
    (tmp_path / "tokens").mkdir()
    token_server = TokenServer(tmp_path / "tokens", {"robot": TARGET_PASSWORD})
    try:
        source = docker_registry_factory({"robot": SOURCE_PASSWORD})
        target = docker_registry_factory(tls=pki, config_overrides={"auth": token_server.registry_auth()})
        yield Pair(source, target, token_server, pki)
    finally:
        token_server.close()


def promote(pair: Pair, image_ref: str, image: Image) -> str:
    digest = pair.push("source", image_ref, image)
    assert pair.push("target", image_ref, image) == digest
    return digest


async def test_in_sync_is_up_with_both_sides_read_as_the_registry_probe_reads_them(pair, ctx):
    canary_digest = promote(pair, CANARY, canary("amd64"))
    api_digest = promote(pair, API, canary("arm64", oci=False))
    cfg = pair.check()

    result = await probe(cfg, ctx)

    assert result.status == Status.UP, result.reason
    assert result.reason == "2 images in sync"
    assert result.details["images"] == [
        {"image": CANARY, "source_digest": canary_digest, "target_digest": canary_digest, "in_sync": True,
         "behind_since": None},
        {"image": API, "source_digest": api_digest, "target_digest": api_digest, "in_sync": True,
         "behind_since": None},
    ]
    assert set(result.details["phases"]) == {"source", "target"}
    assert all(seconds > 0 for seconds in result.details["phases"].values())
    assert result.details["source"]["auth"] == "basic"
    assert result.details["target"]["auth"] == "bearer" and result.details["target"]["token"] == "fetched"
    assert result.details["target"]["tls_version"] in {"TLSv1.2", "TLSv1.3"}
    assert pair.token_server.requests == [{"user": "robot", "service": "pm-registry", "scopes": [
        "repository:platform/canary:pull", "repository:paas/api:pull"]}]

    again = await probe(cfg, ctx)  # the target's token is reused, as the registry probe does
    assert again.status == Status.UP and again.details["target"]["token"] == "cached"
    assert len(pair.token_server.requests) == 1
    for shown in (result, again):
        text = json.dumps([shown.reason, shown.details])
        assert SOURCE_PASSWORD not in text and TARGET_PASSWORD not in text


async def test_tag_moved_in_the_source_is_degraded_then_down_past_max_lag_then_up_when_it_arrives(pair, ctx):
    promote(pair, CANARY, canary("amd64"))
    old = promote(pair, API, canary("arm64"))
    cfg = pair.check(max_lag="1s")
    assert (await probe(cfg, ctx)).status == Status.UP

    new_image = canary("arm64", sizes=(1000,))
    new = pair.push("source", API, new_image)  # released in dev/test, not replicated yet
    before = time.time()
    behind = await probe(cfg, ctx)
    after = time.time()

    since = behind.details["images"][1]["behind_since"]
    assert before <= since <= after
    assert behind.status == Status.DEGRADED
    assert behind.reason == f"paas/api:release: target has {short(old)}, source {short(new)} since {clock(since)}"
    assert behind.details["images"][0]["in_sync"] is True
    assert behind.details["images"][1] == {"image": API, "source_digest": new, "target_digest": old,
                                           "in_sync": False, "behind_since": since}

    await asyncio.sleep(1.2)  # past max_lag, still behind: the clock kept its start
    late = await probe(cfg, ctx)
    assert late.status == Status.DOWN
    assert late.reason == behind.reason
    assert late.details["images"][1]["behind_since"] == since

    pair.push("target", API, new_image)  # the replication caught up
    caught_up = await probe(cfg, ctx)
    assert caught_up.status == Status.UP and caught_up.reason == "2 images in sync"
    assert caught_up.details["images"][1]["behind_since"] is None

    resolved_at = time.time()
    newest = pair.push("source", API, canary("arm64", sizes=(1500,)))
    fresh = await probe(cfg, ctx)  # a new mismatch starts a new clock: degraded, not down
    assert fresh.status == Status.DEGRADED
    fresh_since = fresh.details["images"][1]["behind_since"]
    assert fresh_since >= resolved_at
    assert fresh.reason == (
        f"paas/api:release: target has {short(new)}, source {short(newest)} since {clock(fresh_since)}"
    )


async def test_lag_clock_keeps_running_while_the_target_stands_still_and_restarts_when_it_moves(pair, ctx):
    promote(pair, API, canary("arm64"))
    cfg = pair.check(images=[API])
    pair.push("source", API, canary("arm64", sizes=(1000,)))
    first = (await probe(cfg, ctx)).details["images"][0]["behind_since"]

    await asyncio.sleep(0.05)
    newer = pair.push("source", API, canary("arm64", sizes=(1100,)))  # dev moves again, prod still stale
    still = await probe(cfg, ctx)
    assert still.details["images"][0]["behind_since"] == first  # a busy tag cannot hide a broken replication

    arrived = pair.push("target", API, canary("arm64", sizes=(1000,)))  # the first release arrives late
    moved = await probe(cfg, ctx)
    since = moved.details["images"][0]["behind_since"]
    assert since > first  # the replication delivered something: a new clock for the newest digest
    assert moved.status == Status.DEGRADED
    assert moved.reason == f"paas/api:release: target has {short(arrived)}, source {short(newer)} since {clock(since)}"


async def test_missing_in_the_target_or_the_source_is_down(pair, ctx):
    promote(pair, CANARY, canary("amd64"))
    source_only = pair.push("source", API, canary("arm64"))

    missing = await probe(pair.check(), ctx)
    since = missing.details["images"][1]["behind_since"]
    assert missing.status == Status.DOWN  # a deploy in production would not pull it at all
    assert missing.reason == (
        f"paas/api:release: missing in the target (source {short(source_only)}) since {clock(since)}"
    )
    assert missing.details["images"][1]["target_digest"] is None

    late = await probe(pair.check(max_lag="1ms"), ctx)
    assert late.status == Status.DOWN and late.reason == missing.reason

    target_only = pair.push("target", "paas/web:release", canary("s390x"))
    gone = await probe(pair.check(images=[CANARY, "paas/web:release"]), ctx)
    assert gone.status == Status.DOWN
    assert gone.reason == "paas/web:release: not in the source registry"
    assert gone.details["images"][1] == {"image": "paas/web:release", "source_digest": None,
                                         "target_digest": target_only, "in_sync": None, "behind_since": None}


async def test_wrong_password_on_the_target_names_the_target(pair, ctx):
    promote(pair, CANARY, canary("amd64"))
    promote(pair, API, canary("arm64"))

    result = await probe(pair.check(target_password="wrong-pw-123"), ctx)

    assert result.status == Status.DOWN
    assert result.reason == (
        f"target: token server {pair.token_server.url}/token refused a token for robot: "
        "HTTP 401 TOKEN_ERROR: incorrect username or password"
    )
    assert [entry["in_sync"] for entry in result.details["images"]] == [None, None]
    assert "wrong-pw-123" not in json.dumps([result.reason, result.details])


async def test_wrong_password_on_the_source_names_the_source(pair, ctx):
    promote(pair, CANARY, canary("amd64"))
    cfg = pair.check(images=[CANARY])
    wrong = cfg.model_copy(update={"source": cfg.source.model_copy(
        update={"auth": cfg.source.auth.model_copy(update={"password": "nope-nope-1"})})})

    result = await probe(wrong, ctx)

    assert result.status == Status.DOWN
    assert result.reason == (
        "source: the registry rejected the credentials: HTTP 401 UNAUTHORIZED: authentication required"
    )


async def test_target_registry_stopped_is_down_and_leaves_the_lag_clock_alone(pair, ctx):
    promote(pair, CANARY, canary("amd64"))
    promote(pair, API, canary("arm64"))
    pair.push("source", API, canary("arm64", sizes=(1000,)))
    cfg = pair.check()
    behind = await probe(cfg, ctx)
    since = behind.details["images"][1]["behind_since"]
    assert behind.status == Status.DEGRADED

    pair.target.stop()
    stopped = await probe(cfg, ctx)
    assert stopped.status == Status.DOWN
    assert stopped.reason == "target: GET /v2/: connection refused"
    assert stopped.details["images"][1]["in_sync"] is None
    assert set(stopped.details["target"]["phases"]) == {"ping"}

    pair.target.start()  # same port, same storage: still behind, since the first time it was seen
    back = await probe(cfg, ctx)
    assert back.status == Status.DEGRADED and back.details["images"][1]["behind_since"] == since


async def test_engine_runs_it_from_the_config_and_keeps_the_lag_clock_between_runs(pair):
    promote(pair, API, canary("arm64"))
    pair.push("source", API, canary("arm64", sizes=(1000,)))
    config = parse_config(f"""
checks:
  - name: canary-promoted
    component: registries
    kind: registry_sync
    source: {{url: "{pair.source.url}", auth: {{username: robot, password: "${{TEST_REG_PASS}}"}}}}
    target: {{url: "{pair.target.url}", auth: {{username: robot, password: "${{PROD_REG_PASS}}"}},
             tls: {{ca_file: "{pair.pki.ca_file}"}}}}
    images: ["{API}"]
    max_lag: 500ms
""", env={"TEST_REG_PASS": SOURCE_PASSWORD, "PROD_REG_PASS": TARGET_PASSWORD})
    engine = Engine(config)
    await engine.start(schedule=False)
    try:
        check = engine.checks["registries/canary-promoted"]
        first = await engine.runner.run(check)
        await asyncio.sleep(0.6)
        second = await engine.runner.run(check)
    finally:
        await engine.stop()
    assert first.status == Status.DEGRADED, first.reason
    assert second.status == Status.DOWN and second.reason == first.reason
    assert second.details["images"][0]["behind_since"] == first.details["images"][0]["behind_since"]


# --- Harbor replication policy -------------------------------------------------------------------------


@pytest.fixture
def harbor_pair(docker_registry_factory, harbor):
    """An anonymous source registry and a Harbor (double) target holding the same canary."""
    source = docker_registry_factory()
    image = canary("amd64")
    pusher = Pusher(source.url)
    try:
        pusher.image("platform/canary", "stable", image)
    finally:
        pusher.close()
    harbor.add("platform/canary", "stable", image.media_type, image.manifest, [image.config, *image.layers])
    harbor.policies = [replication_policy(7, "prod-sync-old"), replication_policy(8, "prod-sync")]
    return source, harbor


def harbor_check(source, harbor, *, password: str = "s3cret", **settings) -> Check:
    return Check(name="canary-promoted", component="registries", timeout=10, source={"url": source.url},
                 target={"url": harbor.url, "auth": {"username": "robot", "password": password}},
                 images=[CANARY], **{"harbor_policy": "prod-sync", "max_age": "1d", **settings})


async def test_harbor_policy_last_execution_succeeded_recently_is_up(harbor_pair, ctx):
    source, harbor = harbor_pair
    now = float(int(time.time()))  # whole seconds: Harbor's milliseconds show them exactly
    harbor.executions = [
        replication_execution(40, 8, "Succeed", start=now - 2 * HOUR, end=now - 2 * HOUR + 30),
        replication_execution(41, 8, "Failed", start=now - 600, end=now - 600,
                              status_text="Execution skipped: active replication still in progress.",
                              total=0, failed=0),
        replication_execution(42, 7, "Failed", start=now - 60, end=now - 30, failed=10),  # another policy
    ]

    result = await probe(harbor_check(source, harbor), ctx)

    assert result.status == Status.UP, result.reason
    finished = result.details["harbor"]["execution"]["end_time"]
    assert finished == pytest.approx(now - 2 * HOUR + 30, abs=0.001)  # Harbor shows milliseconds
    assert result.reason == (
        f"1 image in sync, replication policy prod-sync: last execution succeeded at {clock(finished)}"
    )
    assert result.details["harbor"]["policy_id"] == 8
    assert result.details["harbor"]["execution"]["id"] == 40
    assert set(result.details["phases"]) == {"source", "target", "harbor"}
    paths = [(path, query) for path, query, user in harbor.api_requests if user == "robot"]
    assert paths == [
        ("/api/v2.0/replication/policies", {"name": ["prod-sync"], "page_size": ["100"]}),
        ("/api/v2.0/replication/executions",
         {"policy_id": ["8"], "page": ["1"], "page_size": ["10"], "sort": ["-start_time"]}),
    ]


async def test_harbor_policy_failed_old_running_and_unknown(harbor_pair, ctx):
    source, harbor = harbor_pair
    now = float(int(time.time()))  # whole seconds: Harbor's milliseconds show them exactly
    cfg = harbor_check(source, harbor)

    harbor.executions = [replication_execution(
        50, 8, "Failed", start=now - 900, end=now - 840, total=10, failed=3,
        status_text="failed to copy paas/api:release: 503 Service Unavailable")]
    failed = await probe(cfg, ctx)
    assert failed.status == Status.DOWN
    assert failed.reason == (
        f"replication policy prod-sync: last execution failed at {clock(now - 840)} (3 of 10 failed): "
        "failed to copy paas/api:release: 503 Service Unavailable"
    )
    assert failed.details["images"][0]["in_sync"] is True  # the images are judged all the same

    three_days_ago = now - 72 * HOUR
    harbor.executions = [replication_execution(51, 8, "Succeed", start=three_days_ago - 60, end=three_days_ago)]
    old = await probe(cfg, ctx)
    assert old.status == Status.DOWN
    assert old.reason == (
        f"replication policy prod-sync: last execution succeeded at {clock(three_days_ago)}, "
        "longer ago than max_age 1d"
    )
    assert time.strftime("%Y-%m-%d ", time.gmtime(three_days_ago)) in old.reason

    harbor.executions = [replication_execution(52, 8, "InProgress", start=now - 30 * HOUR, end=None, succeed=4)]
    stuck = await probe(cfg, ctx)
    assert stuck.status == Status.DEGRADED
    assert stuck.reason == (
        f"replication policy prod-sync: execution in progress since {clock(now - 30 * HOUR)}, "
        "longer than max_age 1d (4 of 10 done)"
    )
    harbor.executions = [replication_execution(53, 8, "InProgress", start=now - 60, end=None, succeed=4)]
    running = await probe(cfg, ctx)
    assert running.status == Status.UP, running.reason
    assert running.reason.endswith(f"execution in progress since {clock(now - 60)} (4 of 10 done)")

    harbor.executions = []
    never = await probe(cfg, ctx)
    assert never.status == Status.DOWN and never.reason == "replication policy prod-sync: no execution yet"

    unknown = await probe(harbor_check(source, harbor, harbor_policy="prod"), ctx)  # Harbor matches fuzzily
    assert unknown.status == Status.DOWN
    assert unknown.reason == f"replication policy prod: no such policy on {harbor.url}"

    harbor.policies = [replication_policy(8, "prod-sync", enabled=False)]
    harbor.executions = [replication_execution(54, 8, "Succeed", start=now - 120, end=now - 60)]
    disabled = await probe(cfg, ctx)
    assert disabled.status == Status.DEGRADED
    assert disabled.reason == "replication policy prod-sync: the policy is disabled"


async def test_harbor_policy_on_a_registry_without_harbor_api_says_so(pair, ctx):
    promote(pair, API, canary("arm64"))

    result = await probe(pair.check(images=[API], harbor_policy="prod-sync", max_age="1d"), ctx)

    assert result.status == Status.DOWN
    assert result.reason == (
        "replication policy prod-sync: GET /api/v2.0/replication/policies: HTTP 404: "
        f"not Harbor's API (is {pair.target.url} a Harbor?)"
    )
    assert result.details["images"][0]["in_sync"] is True


async def test_harbor_policy_on_the_source_uses_the_source_credentials(docker_registry_factory, harbor, ctx):
    # Push mode: the policy lives on the dev/test Harbor, which pushes to a plain registry.
    target = docker_registry_factory()
    image = canary("amd64")
    pusher = Pusher(target.url)
    try:
        pusher.image("platform/canary", "stable", image)
    finally:
        pusher.close()
    harbor.add("platform/canary", "stable", image.media_type, image.manifest, [image.config, *image.layers])
    harbor.policies = [replication_policy(3, "push-to-prod")]
    now = float(int(time.time()))  # whole seconds: Harbor's milliseconds show them exactly
    harbor.executions = [replication_execution(9, 3, "Succeed", start=now - 120, end=now - 60, trigger="event_based")]
    cfg = Check(name="promoted", component="registries", source={"url": harbor.url, "auth": ROBOT},
                target={"url": target.url}, images=[CANARY], harbor_policy="push-to-prod", harbor_on="source",
                max_age="1h")

    result = await probe(cfg, ctx)

    assert result.status == Status.UP, result.reason
    assert result.reason == (
        f"1 image in sync, replication policy push-to-prod: last execution succeeded at {clock(now - 60)}"
    )
    assert {user for _, _, user in harbor.api_requests} == {"robot"}


async def test_harbor_api_refusing_the_credentials_is_down_and_says_so(harbor_pair, ctx):
    source, harbor = harbor_pair

    result = await probe(harbor_check(source, harbor, password="wrong-harbor-pw"), ctx)

    assert result.status == Status.DOWN
    assert result.details["problems"] == [
        "target: token server " + harbor.url + "/service/token refused a token for robot: "
        "HTTP 401 UNAUTHORIZED: invalid credentials",
        "replication policy prod-sync: GET /api/v2.0/replication/policies: HTTP 401 UNAUTHORIZED: UnAuthorized",
    ]
    assert result.reason == result.details["problems"][0] + " (+1 more)"
    assert "wrong-harbor-pw" not in json.dumps([result.reason, result.details])


# --- configuration ------------------------------------------------------------------------------------


CONFIG = """
checks:
  - name: canary-promoted
    component: registries
    kind: registry_sync
    source: {url: https://reg.test.local, auth: {username: robot, password: "${TEST_REG_PASS}"}}
    target: {url: https://reg.prod.local, auth: {username: robot, password: "${PROD_REG_PASS}"}}
    images: ["platform/canary:stable", "paas/api:release"]
    max_lag: 30m
"""


def test_the_issue_example_loads_with_defaults_and_never_shows_the_passwords():
    config = parse_config(CONFIG, env={"TEST_REG_PASS": "dev-pass-0042", "PROD_REG_PASS": "prod-pass-0042"})
    [check] = config.checks
    assert check.kind == "registry_sync" and check.max_lag == 1800
    assert check.harbor_policy is None and check.harbor_on == "target"
    assert check.target.auth.password == "prod-pass-0042"
    shown = redact_settings(check, config.secret_values)
    assert shown["source"]["auth"] == {"username": REDACTED, "password": REDACTED}
    assert shown["target"]["auth"] == {"username": REDACTED, "password": REDACTED}
    assert shown["target"]["url"] == "https://reg.prod.local"
    text = json.dumps(shown)
    assert "dev-pass-0042" not in text and "prod-pass-0042" not in text


@pytest.mark.parametrize(("settings", "expected"), [
    ('images: ["Paas/API:release"]', "checks[0] (registries/p).images[0]: 'Paas/API:release': 'Paas/API' is not"),
    (f'images: ["paas/api@sha256:{"a" * 64}"]', "checks[0] (registries/p).images[0]: 'paas/api@sha256:"),
    ('images: ["paas/api"]', "checks[0] (registries/p).images[0]: 'paas/api': name the tag that must match"),
    ('images: ["a:1", "a:1"]', "checks[0] (registries/p).images: listed more than once: a:1"),
    ("images: []", "checks[0] (registries/p).images: List should have at least 1 item"),
    ("images: [a:1]\n    harbor_policy: prod-sync", "checks[0] (registries/p): harbor_policy needs max_age"),
    ("images: [a:1]\n    max_age: 1d", "checks[0] (registries/p): max_age applies to harbor_policy, which is not set"),
    ("images: [a:1]\n    target: {url: 'http://reg.test.local/'}",
     "checks[0] (registries/p): source and target are the same registry (http://reg.test.local)"),
])
def test_config_errors_are_located(settings, expected):
    if "target:" not in settings:
        settings += '\n    target: {url: "https://reg.prod.local", tls: {ca_file: /etc/ca.pem}}'
    text = f"""
checks:
  - name: p
    component: registries
    kind: registry_sync
    source: {{url: "http://reg.test.local"}}
    {settings}
"""
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert any(line.startswith(expected) for line in info.value.errors), info.value.errors


def test_missing_source_and_target_are_located():
    with pytest.raises(ConfigError) as info:
        parse_config("checks:\n  - {name: p, component: registries, kind: registry_sync, images: [a:1]}\n")
    assert info.value.errors == [
        "checks[0] (registries/p).source: Field required",
        "checks[0] (registries/p).target: Field required",
    ]
    with pytest.raises(ConfigError) as info:
        parse_config("checks:\n  - {name: p, component: registries, kind: registry_sync, images: [a:1],\n"
                     "     source: {url: 'ftp://x'}, target: {url: 'http://x/'}}\n")
    assert info.value.errors[0].startswith("checks[0] (registries/p).source.url: 'ftp://x'")
