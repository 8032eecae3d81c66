"""Run-time variables of multi-step probes: `{{ name }}` references in strings and nested data,
found at load time and filled at run time. A syntax of its own, so it never meets the config
loader's `${ENV}` expansion. No I/O; values are inserted as they are (no escaping)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["UndefinedVariable", "references", "render", "render_data"]

_REFERENCE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_WHOLE = re.compile(r"^\s*\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}\s*$")
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


class UndefinedVariable(Exception):
    """A reference to a variable that has no value in this run."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def references(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(place, variable name) of every reference in `node` (strings, mapping values, list items),
    the place spelled like the config's error places (`headers.Authorization`, `json.items[0]`)."""
    if isinstance(node, str):
        for match in _REFERENCE.finditer(node):
            yield path, match.group(1)
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from references(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list | tuple):
        for i, value in enumerate(node):
            yield from references(value, f"{path}[{i}]")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def render(text: str, values: Mapping[str, Any]) -> str:
    """`text` with each `{{ name }}` replaced by its value as text; UndefinedVariable if one has none."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise UndefinedVariable(name)
        return _text(values[name])

    return _REFERENCE.sub(substitute, text)


def render_data(node: Any, values: Mapping[str, Any]) -> Any:
    """Nested data (a JSON body) with references filled. A string that is exactly one reference
    takes the value itself, so a captured number or object keeps its JSON type."""
    if isinstance(node, str):
        whole = _WHOLE.match(node)
        if whole:
            if whole.group(1) not in values:
                raise UndefinedVariable(whole.group(1))
            return values[whole.group(1)]
        return render(node, values)
    if isinstance(node, Mapping):
        return {key: render_data(value, values) for key, value in node.items()}
    if isinstance(node, list | tuple):
        return [render_data(value, values) for value in node]
    return node
