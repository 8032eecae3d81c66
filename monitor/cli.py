"""The `platform-monitor` command: serve, check, validate, db upgrade, hash-password."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from monitor import __version__
from monitor.config import Config, ConfigError, EngineConfig, load_config

EXIT_OK, EXIT_DOWN, EXIT_BAD_CONFIG = 0, 1, 2
EXIT_STUCK = 3  # `serve` left at its shutdown deadline with calls still stuck (a hung database)
REQUESTS_GRACE = 5  # seconds in-flight HTTP requests get at shutdown before they are cancelled
SHUTDOWN_DEADLINE = 60.0
"""Seconds from SIGTERM/SIGINT to exit, whatever still hangs: in-flight runs (5 s), the writer's
flush (30 s) and the parts' stops fit well inside it."""
WORKER_EXIT_MARGIN = 10.0
"""Seconds a supervisor (`serve --workers N`) waits for its workers beyond their own
SHUTDOWN_DEADLINE before it kills them."""
SHUTDOWN_DEADLINE_STORAGE_DOWN = 10.0
"""The same while the storage watchdog says the database is down or hung: the writer gives up
after 3 s, and threads stuck in a database call (a stopped server never answers) would otherwise
hold the exit for ever (asyncio.run and the interpreter both wait for them)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="platform-monitor", description=__doc__)
    parser.add_argument("--version", action="version", version=f"platform-monitor {__version__}")
    parser.add_argument(
        "--log-level",
        default=os.environ.get("PM_LOG_LEVEL", "info"),
        choices=["debug", "info", "warning", "error"],
    )
    sub = parser.add_subparsers(dest="command", required=True)
    config_help = "config file (default: $PM_CONFIG, else the built-in default config)"

    serve = sub.add_parser("serve", help="run the engine and the HTTP server")
    serve.add_argument("--config", "-c", help=config_help)
    # $PM_HOST / $PM_PORT: the container image sets PM_HOST=0.0.0.0, so it listens beyond its own loopback
    serve.add_argument("--host", default=os.environ.get("PM_HOST") or None,
                       help="override server.host (default: $PM_HOST, else the config's)")
    serve.add_argument("--port", type=int, default=os.environ.get("PM_PORT") or None,
                       help="override server.port (default: $PM_PORT, else the config's)")
    serve.add_argument("--workers", type=_worker_count, default=1, metavar="N",
                       help="run N worker processes of this config on ports PORT..PORT+N-1 under a "
                            "supervisor that restarts them (default: 1, no supervisor)")
    serve.add_argument("--replica-id", metavar="ID",
                       help="override engine.replica_id, this process's name in the lease table "
                            "(with --workers: the base of the workers' names, ID-w0, ID-w1, ...)")

    check = sub.add_parser("check", help="run every check once now, print a table, exit 1 if any is down")
    check.add_argument("--config", "-c", help=config_help)
    check.add_argument("--only", action="append", metavar="ID", help="run only this check id (repeatable)")
    check.add_argument("--json", action="store_true", help="print JSON instead of a table")
    check.add_argument("--location", metavar="NAME", default="central",
                       help="run what this location runs: an agent's name, or central (the default)")

    validate = sub.add_parser("validate", help="validate a config file; exit 2 with every error found")
    validate.add_argument("file")

    sub.add_parser("hash-password", help="read a password on standard input, print its argon2id hash "
                                          "(for auth.users[].password_hash)")
    agent = sub.add_parser("agent", help="run as a remote agent: fetch a location's checks from the centre, run "
                                         "them, push their results (docs/agents.md)")
    agent.add_argument("--server", required=True, metavar="URL", help="the central service's base URL")
    agent.add_argument("--name", required=True, help="this agent's name: its location in the centre's config")
    agent.add_argument("--token-file", metavar="FILE", help="file holding the agent's token (default: $PM_AGENT_TOKEN)")
    agent.add_argument("--buffer", metavar="PATH",
                       help="the file of results waiting for the centre (default: ./platform-monitor-agent-NAME.db)")
    agent.add_argument("--buffer-max", type=int, metavar="N",
                       help="results the buffer keeps at most (default: the centre's `buffer` setting)")
    agent.add_argument("--ca-file", metavar="FILE", help="CA certificates (PEM) to verify the centre's certificate")
    agent.add_argument("--listen", metavar="HOST:PORT", help="serve /healthz, /readyz and /metrics there, "
                                                            "e.g. 127.0.0.1:9108 (default: no port)")

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_sub.add_parser("upgrade", help="apply the schema migrations")
    upgrade.add_argument("--config", "-c", help=config_help)
    return parser


def _worker_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of workers: give a whole number, 1 or more")
    return count


def _config_path(arg: str | None) -> Path | None:
    value = arg or os.environ.get("PM_CONFIG")
    return Path(value) if value else None


def _load(arg: str | None, host: str | None = None, port: int | None = None,
          replica_id: str | None = None) -> tuple[Config, Path | None]:
    path = _config_path(arg)
    if path is None:
        from monitor.defaults import default_config

        config = default_config(host or "127.0.0.1", port if port is not None else 8080)
    else:
        config = load_config(path)
    return _overrides(host if path else None, port if path else None, replica_id)(config), path


def _overrides(host: str | None, port: int | None, replica_id: str | None) -> Callable[[Config], Config]:
    """The command line's settings over a config: applied at start and to every reloaded config
    (a reload reads the file, which does not know them)."""

    def apply(config: Config) -> Config:
        if host is not None or port is not None:
            server = config.server.model_copy(
                update={k: v for k, v in (("host", host), ("port", port)) if v is not None}
            )
            config = config.model_copy(update={"server": server})
        if replica_id is not None:
            try:
                engine = EngineConfig.model_validate({**config.engine.model_dump(), "replica_id": replica_id})
            except ValidationError as exc:
                raise ConfigError("--replica-id", [f"{replica_id!r}: {e['msg']}" for e in exc.errors()]) from None
            config = config.model_copy(update={"engine": engine})
        return config

    return apply


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from monitor.api import create_app
    from monitor.process import configure_process, freeze_heap

    if args.workers > 1:
        return _serve_workers(args)
    configure_process()
    config, path = _load(args.config, args.host, args.port, args.replica_id)
    logging.getLogger(__name__).info(
        "platform-monitor %s: %d checks, storage %s, config %s",
        __version__,
        len(config.all_checks()),
        _safe_url(config.storage.url),
        path or "built-in default",
    )
    app = create_app(config, config_path=path, settle=freeze_heap,
                     adjust=_overrides(args.host, args.port, args.replica_id))
    loop = "uvloop" if _has_uvloop() else "asyncio"
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.server.host,
            port=config.server.port,
            loop=loop,
            log_level=args.log_level,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=REQUESTS_GRACE,
            **_tls_files(config),
        )
    )
    threading.Thread(target=_exit_at_deadline, args=(server, app), name="shutdown-deadline", daemon=True).start()
    server.run()
    return EXIT_OK


def _tls_files(config: Config) -> dict[str, str]:
    """uvicorn's settings for `server.tls` (HTTPS), none without it. The certificate and key are
    loaded once here, so a missing, unreadable or mismatched file is a config error with its
    reason (exit 2), not a traceback from the server."""
    tls = config.server.tls
    if tls is None:
        return {}
    import ssl

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError("server.tls", [f"cannot serve HTTPS with cert_file {tls.cert_file!r} and key_file "
                                         f"{tls.key_file!r}: {reason}"]) from None
    return {"ssl_certfile": tls.cert_file, "ssl_keyfile": tls.key_file}


def cmd_hash_password(args: argparse.Namespace) -> int:
    """The argon2id hash of the password on standard input (its first line; a terminal is asked
    without echo). The password itself is never printed."""
    from monitor.auth.credentials import hash_password

    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass("Password: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("no password given on standard input", file=sys.stderr)
        return EXIT_BAD_CONFIG
    print(hash_password(password))
    return EXIT_OK


def _serve_workers(args: argparse.Namespace) -> int:
    """`serve --workers N`: this process supervises N `serve` processes (monitor.supervisor)."""
    from monitor import supervisor

    with supervisor.run_dir() as run:
        path = _config_path(args.config) or supervisor.write_default_config(
            run, host=args.host or "127.0.0.1", port=args.port if args.port is not None else 8080)
        config, _ = _load(str(path), args.host, args.port, args.replica_id)
        port, last = config.server.port, config.server.port + args.workers - 1
        if port == 0 or last > supervisor.MAX_PORT:
            print(f"--workers {args.workers} on port {port}: the workers listen on ports {port}..{last}, "
                  f"which must lie within 1..{supervisor.MAX_PORT}", file=sys.stderr)
            return EXIT_BAD_CONFIG
        plan = supervisor.Plan(
            workers=args.workers, port=port, host=args.host, config_path=path, log_level=args.log_level,
            replica_base=config.engine.replica_id or supervisor.default_replica_base(),
        )
        return supervisor.supervise(plan, exit_wait=SHUTDOWN_DEADLINE + WORKER_EXIT_MARGIN)


def _exit_at_deadline(server: object, app: object) -> None:
    """Once shutdown begins, give it SHUTDOWN_DEADLINE (less with the database down), then leave
    without waiting for the threads still stuck: logged, exit status EXIT_STUCK."""
    while not server.should_exit:
        time.sleep(0.2)
    service = getattr(app.state, "service", None)
    health = service.engine.storage_health if service is not None else None
    deadline = SHUTDOWN_DEADLINE if health is None or health.up else SHUTDOWN_DEADLINE_STORAGE_DOWN
    time.sleep(deadline)
    writer = service.engine.writer if service is not None else None
    logging.getLogger(__name__).error(
        "shutdown did not finish within %.0fs (storage: %s); exiting with %d rows not written",
        deadline, (health.reason() if health is not None else None) or "up", writer.pending if writer else 0)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_STUCK)


def _safe_url(url: str) -> str:
    from sqlalchemy import make_url

    return make_url(url).render_as_string(hide_password=True)


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def cmd_check(args: argparse.Namespace) -> int:
    from monitor.engine import Engine

    path = _config_path(args.config)
    if args.only and path is not None:
        config = load_config(path, only=args.only)  # the other checks' ${VAR}s need not be set
    else:
        config, _ = _load(args.config)
    known = config.check_by_id()
    unknown = [cid for cid in args.only or [] if cid not in known]
    if unknown:
        print(f"unknown check id(s): {', '.join(unknown)}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    locations = ["central", *(a.name for a in config.agents)]
    if args.location not in locations:
        print(f"--location {args.location}: no such location (the locations are {', '.join(locations)})",
              file=sys.stderr)
        return EXIT_BAD_CONFIG
    elsewhere = [f"{cid} runs at {', '.join(known[cid].sites)}" for cid in args.only or []
                 if args.location not in known[cid].sites]
    if elsewhere:
        print(f"not run at {args.location}: {'; '.join(elsewhere)} (choose with --location)", file=sys.stderr)
        return EXIT_BAD_CONFIG
    # what that location runs (the agents' own checks need the centre's storage: not run here)
    chosen = args.only or [cid for cid, c in known.items() if args.location in c.sites and c.kind != "agent"]

    async def run() -> dict:
        engine = Engine(config)
        try:
            return await engine.run_once(chosen)
        finally:
            await engine.stop()

    results = asyncio.run(run())
    if args.json:
        print(
            json.dumps(
                {
                    cid: {
                        "status": r.status.value,
                        "latency": r.latency,
                        "reason": r.reason,
                        "details": r.details,
                    }
                    for cid, r in results.items()
                },
                indent=2,
                default=str,
            )
        )
    else:
        _print_table(results)
    return EXIT_DOWN if any(r.status.value == "down" for r in results.values()) else EXIT_OK


def _print_table(results: dict) -> None:
    rows = [("CHECK", "STATUS", "LATENCY", "REASON")]
    for cid, r in results.items():
        rows.append((cid, r.status.value, f"{(r.latency or 0) * 1000:.1f}ms", r.reason))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)) + "  " + row[3])


def cmd_validate(args: argparse.Namespace) -> int:
    config = load_config(args.file)
    checks = config.all_checks()
    components = {c.component for c in checks}
    clusters = f", {len(config.clusters)} clusters" if config.clusters else ""
    print(f"{args.file}: OK ({len(checks)} checks in {len(components)} components{clusters})")
    return EXIT_OK


def cmd_agent(args: argparse.Namespace) -> int:
    """`platform-monitor agent`: a bad URL, name, token or file is one line on stderr and exit 2."""
    import sqlite3
    import ssl

    from monitor.agent import Agent, OptionError, agent_options
    from monitor.process import configure_process

    def refuse(message: str) -> int:
        print(f"platform-monitor agent: {message}", file=sys.stderr)
        return EXIT_BAD_CONFIG

    try:
        options = agent_options(server=args.server, name=args.name, token_file=args.token_file,
                                env_token=os.environ.get("PM_AGENT_TOKEN", ""), buffer=args.buffer,
                                buffer_max=args.buffer_max, ca_file=args.ca_file, listen=args.listen)
        agent = Agent(options)
    except OptionError as exc:
        return refuse(str(exc))
    except (OSError, ssl.SSLError) as exc:
        return refuse(f"--ca-file {args.ca_file}: cannot use it ({getattr(exc, 'strerror', None) or exc})")
    configure_process()
    try:
        asyncio.run(agent.run())
    except OSError as exc:
        bound = agent.listening is not None or options.listen is None
        return refuse(f"{f'--buffer {options.buffer_path}' if bound else f'--listen {args.listen}'}: "
                      f"{exc.strerror or exc}")
    except sqlite3.Error as exc:
        return refuse(f"--buffer {options.buffer_path}: {exc}")
    return EXIT_OK


def cmd_db(args: argparse.Namespace) -> int:
    from storage.db import create_db_engine, upgrade

    config, _ = _load(args.config)
    engine = create_db_engine(config.storage.url)
    upgrade(engine)
    print(f"database {_safe_url(config.storage.url)} is at the latest schema")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # one line per probe request would drown the log; our own lines say what matters
    for noisy in ("httpx", "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    commands = {"serve": cmd_serve, "check": cmd_check, "validate": cmd_validate, "db": cmd_db,
                "hash-password": cmd_hash_password, "agent": cmd_agent}
    try:
        return commands[args.command](args)
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_BAD_CONFIG


if __name__ == "__main__":
    sys.exit(main())
