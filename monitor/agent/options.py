"""The agent's command-line settings, checked before anything starts: a bad URL, name, token,
bound or address is an OptionError with the one line the operator reads. Reads the token file;
nothing else."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

_NAME = re.compile(r"[A-Za-z0-9._-]+")  # a location name (docs/agents.md)


class OptionError(ValueError):
    """A command-line setting the agent cannot start with; str() is the message."""


@dataclass(frozen=True, slots=True)
class AgentOptions:
    server: str
    name: str
    token: str
    buffer_path: Path
    ca_file: str | None = None
    listen: tuple[str, int] | None = None
    buffer_max: int | None = None  # overrides the centre's `buffer` setting


def agent_options(*, server: str, name: str, token_file: str | None, env_token: str, buffer: str | None,
                  buffer_max: int | None, ca_file: str | None, listen: str | None) -> AgentOptions:
    """The options of `platform-monitor agent`; the token from `token_file` (whitespace around it
    stripped), else `env_token` ($PM_AGENT_TOKEN). OptionError for the first bad one."""
    try:
        url = urlsplit(server)
        url_ok = url.scheme in ("http", "https") and bool(url.hostname) and (url.port or 0) >= 0
    except ValueError:  # a port that is not a number, or out of range
        url_ok = False
    if not url_ok:
        raise OptionError(f"--server {server!r} is not an http:// or https:// URL with a host")
    if not _NAME.fullmatch(name):
        raise OptionError(f"--name {name!r}: use letters, digits, '.', '_' and '-' only")
    if buffer_max is not None and buffer_max < 1:
        raise OptionError(f"--buffer-max {buffer_max}: give a whole number, 1 or more")
    return AgentOptions(server=server, name=name, token=_token(token_file, env_token), ca_file=ca_file,
                        listen=_address(listen) if listen else None,
                        buffer_path=Path(buffer or f"platform-monitor-agent-{name}.db"), buffer_max=buffer_max)


def _token(token_file: str | None, env_token: str) -> str:
    if not token_file:
        if not env_token.strip():
            raise OptionError("no token: give --token-file FILE or set $PM_AGENT_TOKEN")
        return env_token.strip()
    try:
        token = Path(token_file).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise OptionError(f"--token-file {token_file}: cannot read it ({getattr(exc, 'strerror', None) or exc})") \
            from None
    if not token:
        raise OptionError(f"--token-file {token_file} is empty")
    return token


def _address(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise OptionError(f"--listen {listen!r} is not HOST:PORT (e.g. 127.0.0.1:9108)")
    return host.strip("[]"), int(port)
