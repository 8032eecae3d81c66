"""Redaction: what the API, the logs, the database, alerts and error messages may show of a
check's settings and of what its target answered. Secrets are replaced, never shown back."""

from __future__ import annotations

import base64
import functools
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel

from probes.base import CheckBase

__all__ = [
    "MIN_SECRET_CHARS",
    "REDACTED",
    "RedactingFilter",
    "Redactor",
    "data_secrets",
    "model_secrets",
    "redact_data",
    "redact_settings",
    "redact_text",
]

REDACTED = "<redacted>"
MIN_SECRET_CHARS = 4
"""Shorter known values are not replaced in free text: `on` or `eu` would redact words by accident
(the run-time patterns below still catch them after `token=` or `Bearer`)."""
_SECRET_KEY = re.compile(
    r"pass(word)?|secret|token|authorization|cookie|api[-_]?key|private|credential|^key$", re.I
)


def _basic_credentials(match: re.Match[str]) -> str:
    try:
        decoded = base64.b64decode(match.group(3), validate=True)
    except ValueError:  # binascii.Error: not base64, so prose
        return match.group(0)
    return match.group(0) if b":" not in decoded else f"{match.group(1)}{match.group(2)}{REDACTED}"


# --- run-time patterns: secrets nobody configured (a token a flow captured, a target's echo) -----
# Names of parameters, JSON fields and headers whose value is a secret.
_NAME = (r"[\w.-]*(?:pass(?:word|wd|phrase)?|pwd|secret|token|auth|cookie|api[-_]?key|credential|private|signature)"
         r"[\w.-]*")
# (pattern, replacement, gate): a pattern runs only on text whose lower case contains one of its
# gate strings, so most text costs a few substring tests, not six regular expressions.
_PATTERNS: tuple[tuple[re.Pattern[str], Any, tuple[str, ...]], ...] = (
    # scheme://user:password@host → scheme://user:<redacted>@host
    (re.compile(r"(://[^/\s:@'\"<>]*):(?!<redacted>@)[^/\s@'\"]+@"), r"\1:" + REDACTED + "@", ("@",)),
    # Authorization: Bearer <token>, wherever it is quoted
    (re.compile(r"(?i)\b(bearer)(\s+)(?!<redacted>)[A-Za-z0-9\-._~+/]+=*"), r"\1\2" + REDACTED, ("bearer",)),
    # Basic <base64 of user:password> (not the words "Basic auth")
    (re.compile(r"(?i)\b(basic)(\s+)([A-Za-z0-9+/]{4,}={0,2})(?![\w+/=])"), _basic_credentials, ("basic",)),
    # token=…, access_token=…, password=… in URLs, form bodies and prose
    (re.compile(rf"(?i)\b({_NAME})=(?!<redacted>)[^&\s\"'<>#,;)\]}}]+"), r"\1=" + REDACTED, ("=",)),
    # "password": "…" in JSON, 'token': '…' in a Python repr quoted by a reason
    (re.compile(rf"""(?i)(["'])({_NAME})\1(\s*:\s*)(["'])(?!<redacted>)(?:\\.|(?!\4).)*\4"""),
     r"\1\2\1\3\4" + REDACTED + r"\4", ("\"", "'")),
    # Authorization: xyz, X-Api-Key: xyz, Cookie: a=b (header lines echoed as text; not a config
    # place such as `headers.Authorization: environment variable X is not set`)
    (re.compile(r"(?i)(?<![\w.-])((?:proxy-)?authorization|(?:set-)?cookie|x-[\w-]*(?:token|key|secret|pass\w*|auth)[\w-]*)"
                r"(\s*:\s*)(?!(?:bearer|basic)\s)(?!<redacted>)[^\s\"',;]+"), r"\1\2" + REDACTED,
     ("authorization", "cookie", "x-")),
    # /ping/<token>/start: a heartbeat's token is its URL's secret part (uvicorn's access log,
    # a client's error quoting the URL)
    (re.compile(r"(/ping/)(?!<redacted>)[^/\s?#\"'<>]+"), r"\1" + REDACTED, ("/ping/",)),
)
# Cheap test before the patterns: text whose lower case holds none of these cannot match one of
# them (substring tests: a tenth of a case-insensitive regex search).
_MARKERS = ("bearer", "basic", "pass", "pwd", "secret", "token", "auth", "cookie", "key", "credential",
            "private", "signature", "@", "/ping/")


def redact_patterns(text: str) -> str:
    """`text` with the run-time secret patterns replaced: URL passwords, `Bearer`/`Basic`
    credentials, `token=`-like parameters, secret JSON fields and secret header lines."""
    lower = text.lower()
    if not any(marker in lower for marker in _MARKERS):
        return text
    for pattern, replacement, gate in _PATTERNS:
        if any(g in lower for g in gate):
            text = pattern.sub(replacement, text)
    return text


_STATE_WORDS = frozenset({"fetched", "cached", "none", "anonymous", "basic", "bearer"})
"""Values a probe writes under a secret-looking key that are states, not credentials (the
registry probe's `details.token` says `fetched` or `cached`; `auth` says which scheme). Only these
exact words are spared; configured secrets are replaced whatever they look like."""


class Redactor:
    """Replaces known secret values (each by its replacement: `<redacted>`, or the `${VAR}` an
    environment value came from) and the run-time patterns in text and JSON-ready data. Built
    once per check (its regular expression is compiled then); cheap to apply."""

    __slots__ = ("_known", "_replacements")

    def __init__(self, secrets: Mapping[str, str] | None = None) -> None:
        self._replacements = {v: r for v, r in (secrets or {}).items() if len(v) >= MIN_SECRET_CHARS}
        # Longest first: a secret that contains another is replaced whole.
        values = sorted(self._replacements, key=len, reverse=True)
        self._known = re.compile("|".join(map(re.escape, values))) if values else None

    def text(self, text: str) -> str:
        """`text` with every known secret and every run-time pattern replaced."""
        if self._known is not None:
            text = self._known.sub(self._replace, text)
        return redact_patterns(text)

    def _replace(self, match: re.Match[str]) -> str:
        return self._replacements[match.group(0)]

    def data(self, node: Any) -> Any:
        """JSON-ready data with secret strings replaced and the values of secret-looking keys
        redacted; returns `node` itself (no copy) when nothing needed replacing."""
        if isinstance(node, str):
            return self.text(node)
        if isinstance(node, dict):
            out = None
            for key, value in node.items():
                # a string under a secret-looking key; not a number (`phases.token` is a time) nor
                # a plain word from a probe's vocabulary (`details.token: fetched`)
                secret = isinstance(value, str) and value and _secret_key(key) and value not in _STATE_WORDS
                new = REDACTED if secret else self.data(value)
                if new is not value and out is None:
                    out = dict(node)
                if out is not None:
                    out[key] = new
            return node if out is None else out
        if isinstance(node, list):
            items = [self.data(v) for v in node]
            return node if all(a is b for a, b in zip(items, node, strict=True)) else items
        return node


def model_secrets(model: BaseModel, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Secret value → replacement for one check or receiver: its `secret_fields` (of a mapping,
    the values under secret-looking keys), values under secret-looking keys at any depth, URL
    passwords and secret query parameters (as written and percent-decoded, and as the Basic
    credentials built from them), plus every environment value (`env`: value → `${VAR}`)."""
    found: set[str] = set()
    data = model.model_dump(mode="json")
    for name in getattr(model, "secret_fields", ()):
        for value in _field_values(data, name.split(".")):
            if isinstance(value, dict):
                found.update(_strings({k: v for k, v in value.items() if _SECRET_KEY.search(str(k))}))
            else:
                found.update(_strings(value))
    _collect(data, found)
    secrets = {value: REDACTED for value in found if len(value) >= MIN_SECRET_CHARS}
    secrets.update(env or {})
    return secrets


def data_secrets(data: Any) -> dict[str, str]:
    """Secret value → `<redacted>` found in raw config data (no model yet): values under
    secret-looking keys at any depth, URL passwords and secret query parameters."""
    found: set[str] = set()
    _collect(data, found)
    return {value: REDACTED for value in found if len(value) >= MIN_SECRET_CHARS}


def _field_values(node: Any, path: list[str]) -> Iterable[Any]:
    if isinstance(node, list) and path[0] == "*":
        for item in node:
            yield from _field_values(item, path[1:]) if len(path) > 1 else ()
    elif isinstance(node, dict) and path[0] in node:
        yield from _field_values(node[path[0]], path[1:]) if len(path) > 1 else (node[path[0]],)


def _strings(node: Any) -> Iterable[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def _collect(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            # a string (or strings) under a secret-looking key; a mapping there is structure
            # (a flow's `capture: {token: {json: access_token}}` names a variable `token`)
            if _secret_key(key) and isinstance(value, str | list):
                found.update(_strings(value))
            else:
                _collect(value, found)
    elif isinstance(node, list):
        for value in node:
            _collect(value, found)
    elif isinstance(node, str) and "://" in node:
        found.update(_url_secrets(node))


def _url_secrets(url: str) -> Iterable[str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        user, password = userinfo.split(":", 1)
        yield password
        yield unquote(password)
        yield base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode("ascii")
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if _SECRET_KEY.search(key) or re.fullmatch(_NAME, key, re.I):
            yield value
            yield from re.findall(rf"(?i)(?:^|[?&;]){re.escape(key)}=([^&#]*)", parts.query)


class RedactingFilter(logging.Filter):
    """A handler filter that redacts every record's final message (arguments merged in) and its
    exception text: known secrets from `secrets()` (a small mapping, replaced as a whole when
    the config changes: the redactor is built again when another mapping comes back) and the
    run-time patterns. Never drops a record."""

    def __init__(self, secrets: Callable[[], Mapping[str, str]]) -> None:
        super().__init__()
        self._secrets = secrets
        self._source: Mapping[str, str] | None = None
        self._redactor = Redactor()

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self._secrets()
        if secrets is not self._source:
            self._redactor, self._source = Redactor(secrets), secrets
        redactor = self._redactor
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        redacted = redactor.text(message)
        if redacted != message:
            record.msg, record.args = self._redacted_record(record, redactor, redacted)
        if record.exc_text:
            record.exc_text = redactor.text(record.exc_text)
        if record.stack_info:
            record.stack_info = redactor.text(record.stack_info)
        return True

    @staticmethod
    def _redacted_record(record: logging.LogRecord, redactor: Redactor, merged: str) -> tuple[Any, Any]:
        """msg and args for a record whose message held a secret: its string arguments redacted
        one by one when that is enough (formatters that read the arguments, such as uvicorn's
        access log, keep working), else the redacted message with no arguments."""
        if isinstance(record.args, tuple) and record.args:
            args = tuple(redactor.text(a) if isinstance(a, str) else a for a in record.args)
            try:
                candidate = str(record.msg) % args
            except (TypeError, ValueError):
                candidate = None
            if candidate is not None and redactor.text(candidate) == candidate:
                return record.msg, args
        return merged, None

    def install(self, loggers: Iterable[logging.Logger] = ()) -> list[logging.Handler]:
        """Add the filter to the handlers of the root logger and of `loggers`; returns them
        (hand them to `uninstall`)."""
        handlers = [h for lg in (logging.getLogger(), *loggers) for h in lg.handlers]
        for handler in handlers:
            handler.addFilter(self)
        return handlers

    def uninstall(self, handlers: Iterable[logging.Handler]) -> None:
        for handler in handlers:
            handler.removeFilter(self)


def redact_text(text: str, secrets: dict[str, str]) -> str:
    """Replace every environment-provided secret value in `text` by its `${VAR}` spelling."""
    for value, name in secrets.items():
        if value in text:
            text = text.replace(value, name)
    return text


def _redact_url(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{REDACTED}@{host}" if ":" in userinfo else f"{user}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_SECRET_KEY.search(k) for k, _ in pairs):
            query = urlencode([(k, REDACTED if _SECRET_KEY.search(k) else v) for k, v in pairs], safe="<>")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


@functools.lru_cache(maxsize=4096)  # details repeat the same few keys in every result
def _secret_key(key: Any) -> bool:
    # A URL setting (`token_url`) is no secret by its name; its password and secret query
    # parameters are redacted like any URL's.
    key = str(key)
    return bool(_SECRET_KEY.search(key)) and not key.lower().endswith("url")


def _walk(node: Any, secrets: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {
            k: (REDACTED if _secret_key(k) and node[k] not in (None, "") else _walk(v, secrets))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_walk(v, secrets) for v in node]
    if isinstance(node, str):
        if "://" in node:
            node = _redact_url(node)
        return redact_text(node, secrets)
    return node


def redact_data(data: Any, secrets: dict[str, str] | None = None) -> Any:
    """JSON-ready data with secret-looking keys, URL secrets and environment values replaced."""
    return _walk(data, secrets or {})


def redact_settings(check: CheckBase, secrets: dict[str, str] | None = None) -> dict[str, Any]:
    """The check's settings as JSON-ready data with secrets replaced: fields the probe declares
    secret, keys that look secret at any depth, URL passwords and secret query parameters, and
    any value that came from an environment variable."""
    data = check.model_dump(mode="json")
    for name in check.secret_fields:
        _redact_field(data, name.split("."))
    return _walk(data, secrets or {})


def _redact_field(node: Any, path: list[str]) -> None:
    """Redact the field at a dotted path (`password`, `auth.token`, `steps.*.request.headers`;
    `*` stands for every item of a list): a mapping keeps its keys, anything else goes."""
    if isinstance(node, list) and path[0] == "*":
        for item in node:
            if len(path) > 1:
                _redact_field(item, path[1:])
        return
    if not isinstance(node, dict) or path[0] not in node:
        return
    if len(path) > 1:
        _redact_field(node[path[0]], path[1:])
        return
    value = node[path[0]]
    if isinstance(value, dict):
        node[path[0]] = {k: REDACTED for k in value}
    elif value not in (None, ""):
        node[path[0]] = REDACTED
