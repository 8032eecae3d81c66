"""`flavor: harbor` against a Harbor double (tests/registry/servers.py): component health read from
the body of a 200, Harbor's token service, rate limiting, and blobs redirected to object storage
(credentials must not follow the redirect)."""

from __future__ import annotations

import email.utils
import time

from probes.base import Status
from probes.registry import Check, probe
from tests.registry.images import canary, sha256

CANARY = "library/busybox"
ROBOT = {"username": "robot", "password": "s3cret"}


def check(url: str, **settings) -> Check:
    return Check(name="harbor", component="registries", url=url, flavor="harbor", timeout=10, **settings)


def publish(harbor) -> str:
    image = canary(sizes=(4000, 700))
    return harbor.add(CANARY, "1.36", image.media_type, image.manifest, [image.config, *image.layers])


async def test_healthy_harbor_token_flow_and_blob_redirect_without_credentials(harbor, ctx):
    digest = publish(harbor)

    result = await probe(check(harbor.url, auth=ROBOT, images=[f"{CANARY}:1.36"], pull_blob=True), ctx)

    assert result.status == Status.UP, result.reason
    assert result.reason.startswith("v2 API ok, bearer auth, 1 canary present, blob ")
    assert result.reason.endswith(", Harbor healthy")
    assert harbor.token_requests == [
        {"user": "robot", "scopes": ["repository:library/busybox:pull"], "service": "harbor-registry"}
    ]
    [entry] = result.details["images"]
    assert entry["digest"] == digest
    assert entry["blob"]["redirects"] == 1 and entry["blob"]["bytes"] == len(min(canary(sizes=(4000, 700)).layers,
                                                                                 key=len))
    assert harbor.storage.seen_authorization == [None]  # the bearer token stayed with Harbor
    assert result.details["harbor"]["status"] == "healthy"
    assert set(result.details["harbor"]["components"]) == {
        "core", "database", "jobservice", "portal", "redis", "registry", "registryctl", "trivy"
    }
    assert set(result.details["phases"]) == {"health", "ping", "auth", "manifest", "blob"}


async def test_critical_component_down_others_degraded(harbor, ctx):
    publish(harbor)
    cfg = check(harbor.url, auth=ROBOT, images=[f"{CANARY}:1.36"])

    harbor.unhealthy = {"trivy": "failed to connect to trivy adapter: timeout"}
    scanner = await probe(cfg, ctx)
    assert scanner.status == Status.DEGRADED
    assert scanner.reason == "Harbor trivy unhealthy: failed to connect to trivy adapter: timeout"
    assert scanner.details["images"][0]["digest"]  # pulls still checked and fine

    harbor.unhealthy = {"jobservice": "503", "database": 'failed to run SQL "SELECT 1": connection refused'}
    database = await probe(cfg, ctx)
    assert database.status == Status.DOWN
    assert database.reason == 'Harbor database unhealthy: failed to run SQL "SELECT 1": connection refused (+1 more)'
    assert database.details["problems"][1] == "Harbor jobservice unhealthy: 503"
    assert database.details["harbor"]["components"]["database"].startswith("unhealthy: failed to run SQL")


async def test_rate_limited_manifest_is_degraded_with_retry_after(harbor, ctx):
    publish(harbor)
    cfg = check(harbor.url, auth=ROBOT, images=[f"{CANARY}:1.36"])

    harbor.retry_after = "30"
    seconds = await probe(cfg, ctx)
    assert seconds.status == Status.DEGRADED
    # A HEAD has no body; asking again with GET would only count against the limit once more.
    assert seconds.reason == "library/busybox:1.36: rate limited (HTTP 429), retry after 30s"
    pulling = await probe(check(harbor.url, auth=ROBOT, images=[f"{CANARY}:1.36"], pull_blob=True), ctx)
    assert pulling.status == Status.DEGRADED
    assert pulling.reason == (
        "library/busybox:1.36: rate limited (TOOMANYREQUESTS: too many requests), retry after 30s"
    )

    harbor.retry_after = email.utils.formatdate(time.time() + 120, usegmt=True)
    date = await probe(cfg, ctx)
    assert date.status == Status.DEGRADED
    retry = float(date.reason.rsplit("retry after ", 1)[1].rstrip("s"))
    assert 115 <= retry <= 120


async def test_wrong_credentials_corrupt_blob_and_missing_canary(harbor, ctx):
    image = canary(sizes=(4000, 700))
    publish(harbor)

    wrong = await probe(check(harbor.url, auth={"username": "robot", "password": "x"}), ctx)
    assert wrong.status == Status.DOWN
    assert wrong.reason == (
        f"token server {harbor.url}/service/token refused a token for robot: HTTP 401 UNAUTHORIZED: invalid credentials"
    )

    harbor.storage.corrupt = True
    corrupt = await probe(check(harbor.url, auth=ROBOT, images=[f"{CANARY}:1.36"], pull_blob=True), ctx)
    assert corrupt.status == Status.DOWN
    blob = sha256(min(image.layers, key=len))
    assert corrupt.reason.startswith(f"library/busybox:1.36: blob {blob}: content does not match its digest (got ")

    missing = await probe(check(harbor.url, auth=ROBOT, images=["library/nginx:1"]), ctx)
    assert missing.status == Status.DOWN
    assert missing.reason == "library/nginx:1: MANIFEST_UNKNOWN: artifact library/nginx:1 not found"


async def test_open_ping_then_a_challenged_repository_and_a_redirect_loop(harbor, ctx):
    digest = publish(harbor)
    harbor.open_ping = True  # /v2/ answers anonymously; the repository asks for a token

    result = await probe(check(harbor.url, auth=ROBOT, images=[f"{CANARY}:1.36"]), ctx)
    assert result.status == Status.UP, result.reason
    assert result.details["auth"] == "bearer" and result.details["images"][0]["digest"] == digest
    assert harbor.token_requests[-1]["scopes"] == ["repository:library/busybox:pull"]
    assert set(result.details["phases"]) == {"health", "ping", "auth", "manifest"}

    refused = await probe(check(harbor.url, auth={"username": "robot", "password": "x"},
                                images=[f"{CANARY}:1.36"]), ctx)
    assert refused.status == Status.DOWN
    assert refused.reason == (
        f"library/busybox:1.36: token server {harbor.url}/service/token refused a token for robot: "
        "HTTP 401 UNAUTHORIZED: invalid credentials"
    )
    assert refused.details["images"][0]["error"] == refused.reason

    harbor.storage.loop = True
    looping = await probe(check(harbor.url, auth=ROBOT, images=[f"{CANARY}:1.36"], pull_blob=True), ctx)
    assert looping.status == Status.DOWN
    assert looping.reason.endswith(": more than 5 redirects")
    assert len(harbor.storage.seen_authorization) == 5 and not any(harbor.storage.seen_authorization)
