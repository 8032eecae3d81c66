"""The redis probe against real Redis servers: the shared one (an emptied database index per
test), a private password-protected primary with a replica and an orphan replica, and a TLS one."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import trustme

from monitor.redact import REDACTED, redact_settings
from probes import redis as redis_probe
from probes.base import ProbeContext, Status
from tests.peer_databases import redis_command
from tests.peers import Peer, PeerStack, free_port, require_peer
from tests.services.db_servers import REDIS_PASSWORD

RedisPair = Any  # tests.services.db_servers.RedisPair
WAIT_SECONDS = 15.0


def check(**settings: Any) -> redis_probe.Check:
    return redis_probe.Check(name="cache", component="data", **settings)


async def probe(ctx: ProbeContext, **settings: Any):
    return await redis_probe.probe(check(**settings), ctx)


async def test_ping_role_and_phases(redis_url: str, ctx: ProbeContext) -> None:
    result = await probe(ctx, url=redis_url)
    assert (result.status, result.reason) == (Status.UP, "PONG, primary")
    assert result.details["role"] == "primary"
    assert set(result.details["phases"]) == {"connect", "ping", "role"}


async def test_unknown_database_and_closed_port(redis_url: str, ctx: ProbeContext) -> None:
    result = await probe(ctx, url=redis_url, database=100_000)
    assert (result.status, result.reason) == (Status.DOWN, "database 100000 does not exist (DB index is out of range)")
    closed = await probe(ctx, host="127.0.0.1", port=free_port())
    assert (closed.status, closed.reason) == (Status.DOWN, "connection refused")


async def test_passwords_and_acl_users(redis_replica: RedisPair, ctx: ProbeContext) -> None:
    port = redis_replica.primary_port
    good = await probe(ctx, url=f"redis://:{REDIS_PASSWORD}@127.0.0.1:{port}/0", expect_role="primary")
    assert good.status is Status.UP, good.reason
    wrong = await probe(ctx, host="127.0.0.1", port=port, password="wrong")
    assert (wrong.status, wrong.reason) == (
        Status.DOWN, "authentication failed (invalid username-password pair or user is disabled)")
    missing = await probe(ctx, host="127.0.0.1", port=port)
    assert (missing.status, missing.reason) == (Status.DOWN, "authentication required (no password configured)")

    admin = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{port}/0"
    redis_command(admin, "ACL", "SETUSER", "monitor", "on", ">mon-pw-1", "+@connection", "+info")
    try:
        acl = await probe(ctx, host="127.0.0.1", port=port, username="monitor", password="mon-pw-1")
        assert acl.status is Status.UP, acl.reason
        acl_wrong = await probe(ctx, host="127.0.0.1", port=port, username="monitor", password="nope")
        assert acl_wrong.reason.startswith("authentication failed")
    finally:
        redis_command(admin, "ACL", "DELUSER", "monitor")


async def test_roles_and_replication_link(redis_replica: RedisPair, ctx: ProbeContext) -> None:
    replica = {"host": "127.0.0.1", "port": redis_replica.replica_port, "password": REDIS_PASSWORD}
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while (result := await probe(ctx, **replica, expect_role="replica")).status is not Status.UP:
        assert asyncio.get_running_loop().time() < deadline, result.reason  # the first sync takes a moment
        await asyncio.sleep(0.05)
    assert result.reason == "PONG, replica"
    assert result.details["link_status"] == "up"
    assert result.details["primary"] == f"127.0.0.1:{redis_replica.primary_port}"
    wrong = await probe(ctx, **replica, expect_role="primary")
    assert (wrong.status, wrong.reason) == (Status.DOWN, "role is replica (expected primary)")
    primary = await probe(ctx, host="127.0.0.1", port=redis_replica.primary_port, password=REDIS_PASSWORD)
    assert primary.details["connected_replicas"] == 1

    orphan = {"host": "127.0.0.1", "port": redis_replica.orphan_port}
    cut_off = await probe(ctx, **orphan, expect_role="replica")
    assert cut_off.status is Status.DOWN
    assert cut_off.reason.startswith(f"replication link to 127.0.0.1:{redis_replica.orphan_primary_port} is down")
    # Nobody asked for a replica: the server answers, that is enough.
    assert (await probe(ctx, **orphan)).status is Status.UP


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("redis-tls")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    files = {"ca": tmp / "ca.pem", "cert": tmp / "server.pem", "key": tmp / "server.key"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    server.cert_chain_pems[0].write_to_path(str(files["cert"]))
    server.private_key_pem.write_to_path(str(files["key"]))
    return {name: str(path) for name, path in files.items()}


@pytest.fixture
def tls_redis(peer_stack: PeerStack, tls_files: dict[str, str]) -> int:
    binary = require_peer("redis-server", "Redis server (Debian package redis-server) for the redis TLS test")
    base: Path = peer_stack.tmpdir("redis-tls-server")
    port = free_port()
    argv = [binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(base),
            "--tls-cert-file", tls_files["cert"], "--tls-key-file", tls_files["key"],
            "--tls-ca-cert-file", tls_files["ca"], "--tls-auth-clients", "no"]
    peer_stack.start(Peer(name="redis-tls", argv=argv, log_path=base / "redis.log", ready_port=port))
    return port


async def test_tls(tls_redis: int, tls_files: dict[str, str], ctx: ProbeContext) -> None:
    trusted = await probe(ctx, host="127.0.0.1", port=tls_redis, tls={"ca_file": tls_files["ca"]})
    assert trusted.status is Status.UP, trusted.reason
    url = await probe(ctx, url=f"rediss://localhost:{tls_redis}/0", tls={"ca_file": tls_files["ca"]})
    assert url.status is Status.UP, url.reason
    untrusted = await probe(ctx, url=f"rediss://127.0.0.1:{tls_redis}")  # the default CAs do not know ours
    assert untrusted.status is Status.DOWN
    assert untrusted.reason.startswith("TLS: certificate verify failed: ")
    unverified = await probe(ctx, url=f"rediss://127.0.0.1:{tls_redis}", tls={"verify": False})
    assert unverified.status is Status.UP, unverified.reason


def test_settings_validation_and_redaction() -> None:
    with pytest.raises(ValueError, match="give url or host"):
        check()
    with pytest.raises(ValueError, match="must look like redis://"):
        check(url="http://cache:6379")
    shown = redact_settings(check(url="redis://:url-pw@cache:6379/2", password="field-pw"))
    assert shown["password"] == REDACTED
    assert shown["url"] == f"redis://:{REDACTED}@cache:6379/2"
