"""Redaction: what the API, the logs, the database and error messages may show of a check's
settings. Secrets are replaced, never shown back."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from probes.base import CheckBase

REDACTED = "<redacted>"
_SECRET_KEY = re.compile(
    r"pass(word)?|secret|token|authorization|cookie|api[-_]?key|private|credential|^key$", re.I
)


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
