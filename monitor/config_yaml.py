"""Reading a config file's YAML within limits: size, values (aliases counted as the copies they
become), aliases and nesting depth, each refused with the line and column where it is crossed.
Builds plain Python data straight from the parser's events, noting where each value starts
(`Places`); knows nothing of the config's keys."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from yaml.nodes import ScalarNode

__all__ = ["MAX_ALIASES", "MAX_CONFIG_BYTES", "MAX_DEPTH", "MAX_VALUES", "Places", "YamlLimitError", "read_yaml"]

MAX_CONFIG_BYTES = 8 * 1024 * 1024
"""Bytes in a config file. A 10,000-check config is ~1.2 MB (~120 bytes a check) and a verbose one
~3 MB: this leaves room, while a file past it (a log or a dump written over the config by mistake)
is refused before it is parsed, and memory stays bounded."""

MAX_VALUES = 500_000
"""Values (scalars, lists and mappings) in the document once every alias is counted as the copy it
becomes for whatever walks the data (`${VAR}` expansion, validation). A 10,000-check config holds
~150,000 (~15 a check); a billion-laughs file claims 10^9 from a few hundred bytes and is refused at
the alias that crosses this, before anything is copied. Reading 500,000 real values costs ~1 s of
CPU, validating them a few more: the most a file within MAX_CONFIG_BYTES can cost."""

MAX_ALIASES = 100_000
"""Alias uses (`*name`) in one file. Real configs share a handful of blocks (`<<: *defaults` per
check: one per check at most): this bounds the work of a file that is mostly aliases."""

MAX_DEPTH = 64
"""Nesting of lists and mappings, aliases followed. The deepest real config nests ~8 levels
(checks → flow steps → expect → headers); checked on every opening bracket, so a `[` x 20000 file
is refused at level 65 instead of exhausting the interpreter's recursion limit somewhere later."""

_PLAIN_CACHE = 4096  # distinct plain non-string scalars remembered (ports, booleans, durations are few)
_STR_TAG = "tag:yaml.org,2002:str"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MAP_TAG = "tag:yaml.org,2002:map"
_VALUE_TAG = "tag:yaml.org,2002:value"


class YamlLimitError(Exception):
    """A document that crosses one of the limits above (or refers to itself). `mark` is where."""

    def __init__(self, mark: yaml.Mark | None, problem: str):
        self.mark = mark
        self.problem = problem
        super().__init__(problem)

    @property
    def place(self) -> str:
        return f"line {self.mark.line + 1}, column {self.mark.column + 1}" if self.mark else "(top level)"


_COLUMN_BITS = 24  # a place is one int, (line << _COLUMN_BITS) | column: ~30 bytes a value, not a tuple's ~120


def _place(mark: yaml.Mark) -> int:
    return (mark.line << _COLUMN_BITS) | min(mark.column, (1 << _COLUMN_BITS) - 1)


class Places:
    """Where the values of a document read by `read_yaml` start, found by their path (the keys and
    indexes that lead to them, as a validation error gives them). A mapping's value is placed at its
    key, a list's item where it starts; a value reached through an alias at the anchor's text (the
    alias itself for the item or key that holds it). Holds the document's lists and mappings."""

    def __init__(self) -> None:
        self._tables: dict[int, tuple[Any, list[int]]] = {}  # id(container) → (it, its items' places)
        self.root = 0  # line 1, column 1 (0-based inside)

    def add(self, container: list[Any] | dict[Any, Any], places: list[int]) -> None:
        self._tables[id(container)] = (container, places)  # kept: an id must not be reused by another

    def of(self, container: Any) -> list[int]:
        """Where the items of one of the document's lists or mappings start, in its order."""
        entry = self._tables.get(id(container))
        return entry[1] if entry is not None else []

    def find(self, root: Any, path: Iterable[Any]) -> tuple[int, int]:
        """(line, column), 1-based, of the deepest value along `path` that `root` holds (a missing
        key or index stops the walk: its parent's place is the best there is)."""
        place, node = self.root, root
        for step in path:
            items = self.of(node)
            index = _index_of(node, step)
            if index is None or index >= len(items):
                break
            place = items[index]
            node = node[step] if isinstance(node, list) else list(node.values())[index]
        return (place >> _COLUMN_BITS) + 1, (place & ((1 << _COLUMN_BITS) - 1)) + 1


def _index_of(node: Any, step: Any) -> int | None:
    if isinstance(node, list):
        return step if isinstance(step, int) and 0 <= step < len(node) else None
    if isinstance(node, dict):
        for i, key in enumerate(node):
            if key == step or str(key) == str(step):
                return i
    return None


@dataclass(slots=True)
class _Built:
    """A finished value, with its size (values, aliases counted as copies) and height (levels)."""

    value: Any
    size: int
    height: int


@dataclass(slots=True)
class _Open:
    """A list or mapping being built: its children so far, their sizes and heights."""

    event: SequenceStartEvent | MappingStartEvent
    value: list[Any] | dict[Any, Any]
    anchor: str | None
    size: int = 1
    height: int = 0
    pairs: list[tuple[Any, Any, yaml.Mark]] = field(default_factory=list)  # mapping: (key, value, key mark)
    places: list[int] = field(default_factory=list)  # list: where each item starts (`_place`)
    key: tuple[Any, yaml.Mark] | None = None  # mapping: a key waiting for its value
    merges: list[dict[Any, Any]] = field(default_factory=list)  # mapping: `<<` sources, in order


if yaml.__with_libyaml__:
    from yaml._yaml import CParser as _Events  # libyaml: ~10x faster than the pure-Python scanner

    def _events(text: str) -> Any:
        return _Events(text)
else:  # pragma: no cover (PyYAML built without libyaml)
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _PyEvents(Reader, Scanner, Parser):
        def __init__(self, text: str) -> None:
            Reader.__init__(self, text)
            Scanner.__init__(self)
            Parser.__init__(self)

    def _events(text: str) -> Any:
        return _PyEvents(text)


class _Scalars(yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
    """Tag resolution and scalar construction exactly as `yaml.safe_load` does them."""

    def __init__(self) -> None:
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        self._plain: dict[str, Any] = {}  # untagged plain scalar → its value (all immutable)

    def scalar(self, event: ScalarEvent) -> Any:
        tag = event.tag
        if tag is None and not event.implicit[0]:  # quoted or block scalar: a string
            return event.value
        if tag is None:
            text = event.value
            if text in self._plain:
                return self._plain[text]
            if text.isdigit() and text.isascii() and (text[0] != "0" or text == "0"):
                return int(text)  # a decimal int, what the resolver would say, ~10x faster
        if tag is None or tag == "!":
            tag = self.resolve(ScalarNode, event.value, event.implicit)
        if tag in (_STR_TAG, _VALUE_TAG):  # `=` is a plain string to safe_load too
            return event.value
        construct = self.yaml_constructors.get(tag)
        if construct is None or tag in (_SEQ_TAG, _MAP_TAG):
            raise yaml.constructor.ConstructorError(
                None, None, f"tag {tag!r} is not supported on a scalar", event.start_mark
            )
        value = construct(self, ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style))
        if event.tag is None and len(self._plain) < _PLAIN_CACHE:
            self._plain[event.value] = value
        return value


def read_yaml(text: str, places: Places | None = None) -> Any:
    """Parse one YAML document into plain data (dict, list, str, int, float, bool, None, datetime),
    noting into `places`, when given, where each value starts.

    Raises yaml.YAMLError for invalid YAML (a key given twice included) and YamlLimitError for a
    document past MAX_VALUES, MAX_ALIASES or MAX_DEPTH or one that contains itself. An alias
    yields the same object as its anchor (shared, not copied); sizes count it as a copy."""
    events = _events(text)
    scalars = _Scalars()
    try:
        event = events.get_event()
        assert isinstance(event, StreamStartEvent)
        if isinstance(events.peek_event(), StreamEndEvent):
            return None
        first = events.get_event()
        assert isinstance(first, DocumentStartEvent)
        root = _build(events, scalars, places)
        end = events.get_event()
        assert isinstance(end, DocumentEndEvent)
        if not isinstance(events.peek_event(), StreamEndEvent):
            extra = events.get_event()
            raise yaml.composer.ComposerError(
                "expected a single document in the stream", first.start_mark,
                "but found another document (a `---` line starts a second one)", extra.start_mark,
            )
        return root
    finally:
        dispose = getattr(events, "dispose", None)
        if dispose is not None:
            dispose()


def _build(events: Any, scalars: _Scalars, places: Places | None) -> Any:
    """Build the document's root from events, iteratively (no recursion, whatever the nesting)."""
    anchors: dict[str, _Built | None] = {}  # None: still being built (an alias to it is a cycle)
    stack: list[_Open] = []
    total = 0  # values so far, aliases counted as copies
    aliases = 0
    while True:
        event = events.get_event()
        mark = event.start_mark
        if type(event) is SequenceStartEvent or type(event) is MappingStartEvent:
            if len(stack) >= MAX_DEPTH:
                raise YamlLimitError(mark, f"lists and mappings nest deeper than {MAX_DEPTH} levels")
            default = _SEQ_TAG if isinstance(event, SequenceStartEvent) else _MAP_TAG
            if event.tag not in (None, "!", default):
                raise yaml.constructor.ConstructorError(
                    None, None, f"tag {event.tag!r} is not supported here", mark
                )
            if event.anchor is not None:
                anchors[event.anchor] = None
            stack.append(_Open(event, [] if default == _SEQ_TAG else {}, event.anchor))
            total += 1
            _check_total(total, mark, alias=False)
            continue
        if type(event) is AliasEvent:
            if event.anchor not in anchors:
                raise yaml.composer.ComposerError(None, None, f"found undefined alias {event.anchor!r}", mark)
            done = anchors[event.anchor]
            if done is None:
                raise YamlLimitError(mark, f"alias *{event.anchor} is inside the value it names: "
                                           "a structure that contains itself has no end")
            aliases += 1
            if aliases > MAX_ALIASES:
                raise YamlLimitError(mark, f"more than {MAX_ALIASES:,} aliases (*name) in one file")
            total += done.size
            _check_total(total, mark, alias=True)
            if len(stack) + done.height > MAX_DEPTH:
                raise YamlLimitError(mark, f"lists and mappings nest deeper than {MAX_DEPTH} levels "
                                           f"once alias *{event.anchor} is followed")
        elif type(event) is ScalarEvent:
            total += 1
            if total > MAX_VALUES:
                _check_total(total, mark, alias=False)
            if event.anchor is None and stack and type(stack[-1].value) is list:  # the common case, fast
                top = stack[-1]
                top.value.append(scalars.scalar(event))
                top.places.append(_place(mark))
                top.size += 1
                top.height = top.height or 1
                continue
            value = _MERGE_KEY if _is_merge_key(event, stack) else scalars.scalar(event)
            done = _Built(value, 1, 1)
            if event.anchor is not None:
                anchors[event.anchor] = done
        elif isinstance(event, (SequenceEndEvent, MappingEndEvent)):
            node = stack.pop()
            if isinstance(node.value, dict):
                node.places = _finish_mapping(node, places)
            if places is not None:
                places.add(node.value, node.places)
            done = _Built(node.value, node.size, node.height + 1)
            if node.anchor is not None:
                anchors[node.anchor] = done
            mark = node.event.start_mark
        else:  # pragma: no cover (the parser yields nothing else inside a document)
            raise yaml.composer.ComposerError(None, None, f"unexpected {type(event).__name__}", mark)

        if not stack:
            return done.value
        parent = stack[-1]
        parent.size += done.size
        parent.height = max(parent.height, done.height)
        if isinstance(parent.value, list):
            parent.value.append(done.value)
            parent.places.append(_place(mark))
        elif parent.key is None:
            parent.key = (done.value, mark)
        else:
            key, key_mark = parent.key
            parent.key = None
            if key is _MERGE_KEY:
                parent.merges.extend(_merge_sources(done.value, mark))
            else:
                parent.pairs.append((key, done.value, key_mark))


def _check_total(total: int, mark: yaml.Mark, *, alias: bool) -> None:
    if total > MAX_VALUES:
        raise YamlLimitError(mark, f"the document holds more than {MAX_VALUES:,} values"
                             + (" once this alias is counted as the copy it becomes" if alias else ""))


_MERGE_KEY = object()
"""Stands for the `<<` key while a mapping is built: its value's mappings are merged in."""


def _is_merge_key(event: ScalarEvent, stack: list[_Open]) -> bool:
    if event.tag is not None or event.value != "<<" or not event.implicit[0]:
        return False
    return bool(stack) and isinstance(stack[-1].value, dict) and stack[-1].key is None


def _merge_sources(value: Any, mark: yaml.Mark) -> list[dict[Any, Any]]:
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return value
    raise yaml.constructor.ConstructorError(
        None, None, "`<<` (merge) expects a mapping or a list of mappings", mark
    )


def _finish_mapping(node: _Open, places: Places | None) -> list[int]:
    """Fill the mapping: its own keys (each once), then keys merged in by `<<` that it does not set
    (an earlier merge source wins over a later one, as the YAML merge spec says). Returns where
    each key is written, in the mapping's order (a merged key: in its source)."""
    data = node.value
    assert isinstance(data, dict)
    where: list[int] = []
    lines: dict[Any, int] = {}
    for key, value, mark in node.pairs:
        try:
            seen = key in lines
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, f"a {type(key).__name__} cannot be a mapping key", mark
            ) from None
        if seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice in one mapping (first on line {lines[key] + 1})", mark
            )
        lines[key] = mark.line
        data[key] = value
        where.append(_place(mark))
    for source in node.merges:
        source_places = places.of(source) if places is not None else []
        for i, (key, value) in enumerate(source.items()):
            if key not in data:
                data[key] = value
                where.append(source_places[i] if i < len(source_places) else _place(node.event.start_mark))
    return where
