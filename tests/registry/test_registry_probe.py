"""The registry probe against real registries (Debian's docker-registry, distribution 2.8) on
loopback: anonymous and htpasswd, canaries pushed through the API, blobs pulled and verified, a
registry that loses its storage, and distribution's token auth against a test token server."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from probes.base import Status
from probes.registry import Check, probe
from tests.peers import free_port
from tests.registry.images import OCI_INDEX, Pusher, canary, index, sha256
from tests.targets import HttpTarget

CANARY = "library/busybox"


def check(url: str, **settings) -> Check:
    return Check(name="reg", component="registries", url=url, timeout=10, **settings)


def push(url: str, image=None, *, tag: str = "1.36", name: str = CANARY, **auth) -> str:
    pusher = Pusher(url, **auth)
    try:
        return pusher.image(name, tag, image or canary())
    finally:
        pusher.close()


async def test_anonymous_registry_canary_present_and_blob_pulled(docker_registry_factory, ctx):
    registry = docker_registry_factory()
    image = canary(sizes=(3000, 200))
    digest = push(registry.url, image)

    result = await probe(check(registry.url, images=[f"{CANARY}:1.36"], pull_blob=True), ctx)

    assert result.status == Status.UP, result.reason
    assert result.reason.startswith("v2 API ok, 1 canary present, blob ")
    assert result.details["api_version"] == "registry/2.0"
    assert result.details["auth"] == "none"
    [entry] = result.details["images"]
    assert entry["digest"] == digest
    assert entry["media_type"] == "application/vnd.oci.image.manifest.v1+json"
    smallest = min(image.layers, key=len)
    assert entry["blob"]["digest"] == sha256(smallest) and entry["blob"]["bytes"] == len(smallest)
    assert entry["blob"]["role"] == "layer" and entry["blob"]["redirects"] == 0
    assert result.details["blob_bytes_per_second"] > 0
    assert set(result.details["phases"]) == {"ping", "manifest", "blob"}
    assert all(seconds > 0 for seconds in result.details["phases"].values())


async def test_missing_canary_and_changed_digest_are_down_with_the_registry_words(docker_registry_factory, ctx):
    registry = docker_registry_factory()
    digest = push(registry.url, canary(oci=False))
    wrong = "sha256:" + "0" * 64

    missing = await probe(check(registry.url, images=[f"{CANARY}:1.36", f"{CANARY}:nope"]), ctx)
    assert missing.status == Status.DOWN
    assert missing.reason == 'library/busybox:nope: MANIFEST_UNKNOWN: manifest unknown ({"Tag":"nope"})'
    present, absent = missing.details["images"]
    assert present["digest"] == digest and "error" not in present
    assert present["media_type"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert absent["error"] == missing.reason and "digest" not in absent

    moved = await probe(check(registry.url, images=[{"image": f"{CANARY}:1.36", "digest": wrong}]), ctx)
    assert moved.status == Status.DOWN
    assert moved.reason == f"library/busybox:1.36: digest changed: expected {wrong}, got {digest}"

    pinned = await probe(check(registry.url, images=[f"{CANARY}@{digest}", "other/repo:1"]), ctx)
    assert pinned.status == Status.DOWN
    assert pinned.reason.startswith("other/repo:1: NAME_UNKNOWN") or pinned.reason.startswith(
        "other/repo:1: MANIFEST_UNKNOWN"
    )
    assert pinned.details["images"][0]["digest"] == digest


async def test_index_pulls_the_amd64_manifests_smallest_layer(docker_registry_factory, ctx):
    registry = docker_registry_factory()
    arm, amd = canary("arm64", sizes=(100,)), canary("amd64", sizes=(5000, 900, 2000))
    pusher = Pusher(registry.url)
    for image in (arm, amd):
        pusher.image(CANARY, image.digest.replace(":", "-"), image)
    digest = pusher.manifest(CANARY, "multi", index(("arm64", arm), ("amd64", amd)), OCI_INDEX)
    pusher.close()

    result = await probe(check(registry.url, images=[f"{CANARY}:multi"], pull_blob=True), ctx)

    assert result.status == Status.UP, result.reason
    [entry] = result.details["images"]
    assert entry["digest"] == digest and entry["media_type"] == OCI_INDEX
    assert entry["platform_manifest"] == amd.digest
    assert entry["blob"]["digest"] == sha256(min(amd.layers, key=len))

    small = await probe(check(registry.url, images=[f"{CANARY}:multi"], pull_blob=True, max_blob_bytes=700), ctx)
    assert small.status == Status.UP, small.reason
    assert small.details["images"][0]["blob"]["role"] == "config"


async def test_htpasswd_registry_basic_auth(docker_registry_factory, ctx):
    registry = docker_registry_factory({"robot": "s3cret"})
    digest = push(registry.url, auth=registry.auth)

    good = await probe(check(registry.url, auth={"username": "robot", "password": "s3cret"},
                             images=[f"{CANARY}:1.36"], pull_blob=True), ctx)
    assert good.status == Status.UP, good.reason
    assert good.reason.startswith("v2 API ok, basic auth, 1 canary present")
    assert good.details["auth"] == "basic" and good.details["images"][0]["digest"] == digest
    assert set(good.details["phases"]) == {"ping", "auth", "manifest", "blob"}

    wrong = await probe(check(registry.url, auth={"username": "robot", "password": "nope"},
                              images=[f"{CANARY}:1.36"]), ctx)
    assert wrong.status == Status.DOWN
    assert wrong.reason == (
        "the registry rejected the credentials: HTTP 401 UNAUTHORIZED: authentication required"
    )
    assert "images" not in wrong.details  # no canary is judged without access

    anonymous = await probe(check(registry.url, images=[f"{CANARY}:1.36"]), ctx)
    assert anonymous.status == Status.DOWN
    assert anonymous.reason == 'registry asks for Basic auth (Basic realm="pm-test") but the check has no credentials'


async def test_registry_that_loses_its_storage_is_down_with_unavailable(docker_registry_factory, ctx):
    registry = docker_registry_factory(
        config_overrides={"health": {"storagedriver": {"enabled": True, "interval": "1s", "threshold": 1}}}
    )
    push(registry.url)
    cfg = check(registry.url, images=[f"{CANARY}:1.36"])
    assert (await probe(cfg, ctx)).status == Status.UP

    # A symlink loop: every storage call fails with ELOOP (a plain file in its place still
    # answers the driver's Stat of "/", and a missing directory counts as empty, not failed).
    storage = registry.storage_dir
    os.rename(storage, storage.with_name("storage.lost"))
    os.symlink(storage.name, storage)

    seen = []
    deadline = time.monotonic() + 30  # the health check runs every second; probe until it has noticed
    while time.monotonic() < deadline:
        result = await probe(cfg, ctx)
        seen.append(result)
        if result.reason.startswith("registry unavailable"):
            break
        await asyncio.sleep(0.1)
    # Until the health check notices, the manifest itself fails (mostly distribution's UNKNOWN, 500;
    # the storage driver's error text varies with the moment the loop is hit): down all along.
    assert all(r.status == Status.DOWN for r in seen), sorted({(r.status, r.reason[:90]) for r in seen})
    assert any("UNKNOWN" in r.reason for r in seen[:-1]) or len(seen) == 1, [r.reason[:90] for r in seen]
    assert result.status == Status.DOWN
    assert result.reason == (
        "registry unavailable: GET /v2/: HTTP 503 UNAVAILABLE: service unavailable "
        "(health check failed: please see /debug/health)"
    )


async def test_unreachable_and_not_a_registry(ctx):
    closed = await probe(check(f"http://127.0.0.1:{free_port()}"), ctx)
    assert closed.status == Status.DOWN and closed.reason == "GET /v2/: connection refused"
    assert set(closed.details["phases"]) == {"ping"}

    target = HttpTarget()
    try:
        target.behaviour.status = 404
        not_registry = await probe(check(target.url), ctx)
        assert not_registry.status == Status.DOWN
        assert not_registry.reason == "not a v2 registry: GET /v2/: HTTP 404"
        target.behaviour.status, target.behaviour.body = 429, b'{"errors":[{"code":"TOOMANYREQUESTS","message":"x"}]}'
        limited = await probe(check(target.url), ctx)
        assert limited.status == Status.DEGRADED
        assert limited.reason == "GET /v2/: rate limited (TOOMANYREQUESTS: x)"
    finally:
        target.close()


# --- distribution's token auth --------------------------------------------------------------------


@pytest.fixture
def token_registry(docker_registry_factory, token_server):
    registry = docker_registry_factory(config_overrides={"auth": token_server.registry_auth()})
    push(registry.url, authorization=f"Bearer {token_server.push_token(CANARY)}")
    return registry


async def test_token_auth_runs_the_bearer_flow_with_the_pull_scope_and_caches_the_token(
    token_registry, token_server, ctx
):
    cfg = check(token_registry.url, auth={"username": "robot", "password": "s3cret"},
                images=[f"{CANARY}:1.36", f"{CANARY}:1.36"], pull_blob=True)

    first = await probe(cfg, ctx)
    assert first.status == Status.UP, first.reason
    assert first.reason.startswith("v2 API ok, bearer auth, 2 canaries present")
    assert first.details["token"] == "fetched" and first.details["token_lifetime"] == 300
    assert token_server.requests == [
        {"user": "robot", "scopes": ["repository:library/busybox:pull"], "service": "pm-registry"}
    ]
    assert first.details["phases"]["auth"] > 0

    second = await probe(cfg, ctx)  # within the token's lifetime: no new token
    assert second.status == Status.UP, second.reason
    assert second.details["token"] == "cached" and len(token_server.requests) == 1
    assert "auth" in second.details["phases"]


async def test_token_auth_failures(token_registry, token_server, ctx):
    wrong = await probe(check(token_registry.url, auth={"username": "robot", "password": "nope"},
                              images=[f"{CANARY}:1.36"]), ctx)
    assert wrong.status == Status.DOWN
    assert wrong.reason == (
        f"token server {token_server.url}/token refused a token for robot: "
        "HTTP 401 TOKEN_ERROR: incorrect username or password"
    )

    token_server.untrusted = True  # signed by a key outside the registry's rootcertbundle
    rejected = await probe(check(token_registry.url, auth={"username": "robot", "password": "s3cret"}), ctx)
    assert rejected.status == Status.DOWN
    assert rejected.reason.startswith(f"the registry rejected the token from {token_server.url}/token: HTTP 401")

    token_server.untrusted = False
    token_server.field, token_server.expires_in = "access_token", None  # token.md: both optional
    anonymous = await probe(check(token_registry.url, images=[f"{CANARY}:1.36"]), ctx)
    assert anonymous.status == Status.UP, anonymous.reason  # anonymous tokens get pull here
    assert anonymous.details["token_lifetime"] == 60
    assert token_server.requests[-1]["user"] is None
