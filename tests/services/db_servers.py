"""Private database servers the shared test servers cannot stand in for: a PostgreSQL primary that
checks passwords (the shared one trusts everyone) with a streaming replica, and Redis replicas.
Each runs on free loopback ports under a temp dir and is stopped by its own PID."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.peers import Peer, free_port, peer_missing, require_peer
from tests.targets import wait_for

PG_PASSWORD = "pm-test-secret"
PG_START_TIMEOUT = 60.0  # seconds; initdb and a base backup on a slow CI box
PG_STOP_TIMEOUT = 10.0  # seconds for a fast shutdown before Peer.stop's SIGTERM and SIGKILL
REDIS_PASSWORD = "pm-redis-secret"


def _pg_bin() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not candidates:
        require_peer("initdb", "PostgreSQL server binaries (Debian package postgresql) for the postgres probe tests")
    return candidates[-1].parent


def _as_postgres() -> list[str]:
    """PostgreSQL refuses to run as root: drop to the postgres user (setpriv execs, so a Popen's
    pid is the server itself)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        peer_missing("no postgres user to run a private PostgreSQL as (install Debian package postgresql)")
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]


@dataclass
class PgPair:
    """A primary with password (scram) authentication and a streaming replica of it."""

    primary_port: int
    replica_port: int
    password: str = PG_PASSWORD
    user: str = "postgres"


def _run(argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
    with open(log, "ab") as out:
        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                              timeout=PG_START_TIMEOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({done.returncode}):\n{log.read_text(errors='replace')[-3000:]}")


def _pg_server(bin_dir: Path, data: Path, port: int, base: Path, name: str) -> Peer:
    argv = [*_as_postgres(), str(bin_dir / "postgres"), "-D", str(data), "-p", str(port),
            "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={base}", "-c", "fsync=off"]
    return Peer(name=name, argv=argv, log_path=base / f"{name}.log", ready_port=port, timeout=PG_START_TIMEOUT)


@pytest.fixture(scope="module")
def pg_pair() -> Iterator[PgPair]:
    """A private PostgreSQL primary (password auth) and its streaming replica, for the module."""
    bin_dir = _pg_bin()
    base = Path(tempfile.mkdtemp(prefix="pm-test-pg-"))  # not under pytest's root-only tmp dir
    peers: list[Peer] = []
    try:
        if os.geteuid() == 0:
            shutil.chown(base, "postgres", "postgres")
        as_pg = _as_postgres()
        pwfile = base / "pw"
        pwfile.write_text(PG_PASSWORD + "\n")
        if os.geteuid() == 0:
            shutil.chown(pwfile, "postgres", "postgres")
        log = base / "setup.log"
        _run([*as_pg, str(bin_dir / "initdb"), "-D", str(base / "primary"), "-U", "postgres",
              "-A", "scram-sha-256", f"--pwfile={pwfile}", "--no-sync"], log)
        pair = PgPair(primary_port=free_port(), replica_port=free_port())
        peers.append(_pg_server(bin_dir, base / "primary", pair.primary_port, base, "primary").start())
        _wait_pg_ready(bin_dir, pair.primary_port)
        _run([*as_pg, str(bin_dir / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(pair.primary_port),
              "-U", "postgres", "-D", str(base / "replica"), "-R", "-X", "stream", "-c", "fast", "--no-sync"],
             log, env={"PGPASSWORD": PG_PASSWORD})
        peers.append(_pg_server(bin_dir, base / "replica", pair.replica_port, base, "replica").start())
        _wait_pg_ready(bin_dir, pair.replica_port)
        yield pair
    finally:
        for peer in reversed(peers):
            _stop_postgres(peer)
        shutil.rmtree(base, ignore_errors=True)


def _wait_pg_ready(bin_dir: Path, port: int) -> None:
    """The port opens before the server takes sessions ("the database system is starting up")."""
    def ready() -> bool:
        done = subprocess.run([str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)],
                              check=False, timeout=10)
        return done.returncode == 0

    wait_for(ready, timeout=PG_START_TIMEOUT, what=f"PostgreSQL on port {port} to accept sessions")


def _stop_postgres(peer: Peer) -> None:
    """SIGINT is PostgreSQL's fast shutdown; SIGTERM (Peer.stop) would wait for every session."""
    if peer.process is not None and peer.process.poll() is None:
        peer.process.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            peer.process.wait(timeout=PG_STOP_TIMEOUT)
    peer.stop()


@dataclass
class RedisPair:
    """A Redis primary that requires a password and a replica of it (same password)."""

    primary_port: int
    replica_port: int
    password: str = REDIS_PASSWORD
    orphan_port: int = 0  # a replica whose primary does not exist (its link is down)
    orphan_primary_port: int = 0  # where that missing primary should be


def _redis_server(base: Path, name: str, *args: str) -> tuple[Peer, int]:
    binary = require_peer("redis-server", "Redis server (Debian package redis-server) for the redis probe tests")
    port = free_port()
    data = base / name
    data.mkdir()
    argv = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
            "--dir", str(data), *args]
    return Peer(name=f"redis-{name}", argv=argv, log_path=base / f"{name}.log", ready_port=port), port


@pytest.fixture(scope="module")
def redis_replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisPair]:
    """A private password-protected Redis primary with a replica, and an orphan replica."""
    base = tmp_path_factory.mktemp("redis")
    peers: list[Peer] = []
    try:
        # No 5 s wait before a full sync: the replica is in sync at once.
        primary, primary_port = _redis_server(base, "primary", "--requirepass", REDIS_PASSWORD,
                                              "--repl-diskless-sync-delay", "0")
        peers.append(primary.start())
        replica, replica_port = _redis_server(base, "replica", "--requirepass", REDIS_PASSWORD,
                                              "--masterauth", REDIS_PASSWORD,
                                              "--replicaof", "127.0.0.1", str(primary_port))
        peers.append(replica.start())
        nowhere = free_port()
        orphan, orphan_port = _redis_server(base, "orphan", "--replicaof", "127.0.0.1", str(nowhere))
        peers.append(orphan.start())
        yield RedisPair(primary_port, replica_port, orphan_port=orphan_port, orphan_primary_port=nowhere)
    finally:
        for peer in reversed(peers):
            peer.stop()


@dataclass
class MysqlPair:
    """A private MariaDB primary (binary log on, root without a password over TCP) and a replica
    replicating from it."""

    primary_port: int
    replica_port: int


def _mariadb(base: Path, name: str, server_id: int, *args: str) -> tuple[Peer, int]:
    install = require_peer("mariadb-install-db", "MariaDB server (Debian package mariadb-server) for mysql tests")
    server = require_peer("mariadbd", "MariaDB server (Debian package mariadb-server) for the mysql probe tests")
    data = base / name
    log = base / f"{name}.log"
    tmp = base / f"{name}-tmp"  # its own: bootstraps sharing /tmp collide on temporary table files
    tmp.mkdir()
    # "normal" auth: root@localhost with an empty password, usable over TCP.
    _run([install, "--no-defaults", "--user=root", f"--datadir={data}", f"--tmpdir={tmp}",
          "--auth-root-authentication-method=normal"], log)
    port = free_port()
    argv = [server, "--no-defaults", "--user=root", f"--datadir={data}", f"--tmpdir={tmp}", "--bind-address=127.0.0.1",
            f"--port={port}", f"--socket={base / name}.sock", f"--server-id={server_id}",
            "--innodb-flush-log-at-trx-commit=0", "--skip-name-resolve", *args]
    return Peer(name=f"mariadb-{name}", argv=argv, log_path=log, ready_port=port, timeout=PG_START_TIMEOUT), port


def mysql_root(port: int, **kwargs: object):
    """A PyMySQL connection as root to a private server (autocommit)."""
    import pymysql

    return pymysql.connect(host="127.0.0.1", port=port, user="root", password="", autocommit=True,
                           connect_timeout=5, **kwargs)


@pytest.fixture(scope="module")
def mysql_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MysqlPair]:
    """A private MariaDB primary and a replica of it, for the module."""
    base = tmp_path_factory.mktemp("mariadb")
    peers: list[Peer] = []
    try:
        primary, primary_port = _mariadb(base, "primary", 1, "--log-bin=primary-bin")
        replica, replica_port = _mariadb(base, "replica", 2, "--skip-log-bin")
        peers.extend([primary, replica])
        with ThreadPoolExecutor(2) as pool:  # both servers initialise InnoDB at the same time
            list(pool.map(Peer.start, peers))
        with mysql_root(replica_port) as conn, conn.cursor() as cursor:
            cursor.execute(f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={primary_port}, "
                           "MASTER_USER='root', MASTER_PASSWORD='', MASTER_CONNECT_RETRY=1")
            cursor.execute("START SLAVE")
        yield MysqlPair(primary_port, replica_port)
    finally:
        for peer in reversed(peers):
            peer.stop()
