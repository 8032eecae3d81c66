"""What a config's validation errors tell its author: the place as a path (`checks[3] (paas/api).url`),
and for the commonest mistakes a message that teaches (the nearest valid key or kind, `kind:` for
`type:`). Knows the config's models only as the root model it is handed; reads no file."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

__all__ = ["Problem", "UnionTags", "format_path", "problems_of", "suggestion"]

SUGGEST_CUTOFF = 0.6
"""difflib similarity (0..1) a known name needs to be offered as "did you mean": `critical_dayz` →
`critical_days` (0.92), `servr` → `server` (0.91), `htpp` → `http` (0.75), while `colour` offers
nothing from a tcp check's keys."""
KEYS_LISTED = 24
"""Valid keys listed when none is near the unknown one; a model with more says only "unknown key"."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One error: `path` (keys and indexes into the file's data) locates it; `text` is the line shown."""

    path: tuple[Any, ...]
    text: str


@dataclass(frozen=True, slots=True)
class UnionTags:
    """A list whose items are a union on `kind`: the registry of kinds and what one item is called."""

    kinds: Mapping[str, Any]
    noun: str  # "check", "receiver"


def format_path(path: Iterable[Any], raw: Any) -> str:
    """`checks[3] (paas/api).expect.status[0]`: keys joined by dots, indexes in brackets, a check's
    id after its index."""
    parts: list[str] = []
    path = list(path)
    for i, step in enumerate(path):
        if isinstance(step, int):
            parts.append(f"[{step}]")
            if i == 1 and path[0] == "checks":
                parts.append(_check_label(raw, step))
        else:
            parts.append(("." if parts else "") + str(step))
    return "".join(parts) or "(top level)"


def _check_label(raw: Any, index: int) -> str:
    try:
        check = raw["checks"][index]
        return f" ({check['component']}/{check['name']})"
    except (KeyError, IndexError, TypeError):
        return ""


def suggestion(word: str, known: Iterable[str]) -> str | None:
    """The known name nearest to `word`, if one is near enough to be what was meant."""
    near = difflib.get_close_matches(word, sorted(set(known)), n=1, cutoff=SUGGEST_CUTOFF)
    return near[0] if near else None


def problems_of(exc: ValidationError, raw: Any, root: type[BaseModel],
                unions: Mapping[str, UnionTags]) -> list[Problem]:
    """One Problem per pydantic error, its path cleaned of the union tags pydantic inserts and its
    message made to teach where the mistake is a common one."""
    problems = []
    for err in exc.errors(include_url=False, include_input=False):
        path = _clean_path(err["loc"], unions)
        msg = err["msg"].removeprefix("Value error, ")
        where = path
        taught = _teach(err["type"], path, raw, root, unions, err.get("ctx") or {})
        if taught is not None:
            where, msg = taught
        problems.append(Problem(where, f"{format_path(where, raw)}: {msg}"))
    return problems


def _clean_path(loc: Iterable[Any], unions: Mapping[str, UnionTags]) -> tuple[Any, ...]:
    """A discriminated union puts the item's kind into pydantic's path (`checks.3.http.url`): drop it."""
    loc, path = list(loc), []
    i = 0
    while i < len(loc):
        path.append(loc[i])
        if isinstance(loc[i], int):
            union = unions.get(format_path(path[:-1], None))
            if union is not None and i + 1 < len(loc) and isinstance(loc[i + 1], str) and loc[i + 1] in union.kinds:
                i += 1
        i += 1
    return tuple(path)


def _teach(kind: str, path: tuple[Any, ...], raw: Any, root: type[BaseModel], unions: Mapping[str, UnionTags],
           ctx: Mapping[str, Any]) -> tuple[tuple[Any, ...], str] | None:
    """(where, message) for the mistakes people make most, or None to keep pydantic's message."""
    if kind == "extra_forbidden" and path and isinstance(path[-1], str):
        keys = _keys_at(root, path[:-1], raw)
        if not keys:
            return None
        near = suggestion(path[-1], keys)
        if near is not None:
            return path, f"unknown key: did you mean `{near}`?"
        if len(keys) <= KEYS_LISTED:
            return path, "unknown key: the keys here are " + ", ".join(f"`{k}`" for k in sorted(keys))
        return path, "unknown key"
    union = unions.get(format_path(path[:-1], None)) if path and isinstance(path[-1], int) else None
    if union is None:
        return None
    item = _at(raw, path)
    if kind == "union_tag_not_found" and isinstance(item, dict) and "type" in item:
        given = item["type"]
        if isinstance(given, str) and given in union.kinds:
            return (*path, "type"), f"use `kind: {given}`, not `type: {given}`"
        return (*path, "type"), f"use `kind:`, not `type:`; {_not_a_kind(given, union)}"
    if kind == "union_tag_not_found":
        return path, f"`kind:` is missing: {_kinds(union)}"
    if kind == "union_tag_invalid":
        given = item.get("kind") if isinstance(item, dict) else ctx.get("tag")
        return (*path, "kind"), _not_a_kind(given, union)
    return None


def _not_a_kind(given: Any, union: UnionTags) -> str:
    near = suggestion(given, union.kinds) if isinstance(given, str) else None
    head = f"{given!r} is not a kind of {union.noun}"
    return f"{head}: did you mean `{near}`?" if near else f"{head}: {_kinds(union)}"


def _kinds(union: UnionTags) -> str:
    return f"the kinds of {union.noun} are " + ", ".join(sorted(union.kinds))


def _at(raw: Any, path: Iterable[Any]) -> Any:
    node = raw
    for step in path:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _keys_at(root: type[BaseModel], path: tuple[Any, ...], raw: Any) -> set[str]:
    """The keys (field names and aliases) the model at `path` accepts; empty when unknown."""
    types_here: list[Any] = [root]
    node = raw
    for step in path:
        following: list[Any] = []
        for tp in _concrete(types_here, node):
            if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(step, str):
                field = next((f for name, f in tp.model_fields.items() if step in (name, f.alias)), None)
                if field is not None:
                    following.append(_annotated(field))
            elif typing.get_origin(tp) in (list, tuple) and isinstance(step, int):
                following.extend(typing.get_args(tp)[:1])
            elif typing.get_origin(tp) is dict:
                following.extend(typing.get_args(tp)[1:2])
        types_here = following
        node = _at(node, [step])
    keys: set[str] = set()
    for tp in _concrete(types_here, node):
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            for name, field in tp.model_fields.items():
                keys.update(k for k in (name, field.alias) if k)
    return keys


def _annotated(field: Any) -> Any:
    """A field's type with its discriminator, if any, as `_expand` reads it."""
    if field.discriminator is not None:
        return typing.Annotated[field.annotation, field]
    return field.annotation


def _concrete(tps: Iterable[Any], node: Any) -> list[Any]:
    """The concrete types a value may be: unions opened, Annotated unwrapped, and a discriminated
    union narrowed to the member `node`'s tag names."""
    out: list[Any] = []
    todo = list(tps)
    while todo:
        tp = todo.pop()
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            inner, *meta = typing.get_args(tp)
            discriminator = next((getattr(m, "discriminator", None) for m in meta
                                  if getattr(m, "discriminator", None)), None)
            if isinstance(discriminator, str) and isinstance(node, dict):
                todo.extend(m for m in _members(inner) if _tag_of(m, discriminator) == node.get(discriminator))
            else:
                todo.append(inner)
        elif origin is typing.Union or origin is types.UnionType:
            todo.extend(typing.get_args(tp))
        else:
            out.append(tp)
    return out


def _members(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        return [m for arg in typing.get_args(tp) for m in _members(arg)]
    if origin is typing.Annotated:
        return _members(typing.get_args(tp)[0])
    return [tp]


def _tag_of(model: Any, discriminator: str) -> Any:
    if isinstance(model, type) and issubclass(model, BaseModel) and discriminator in model.model_fields:
        return model.model_fields[discriminator].default
    return None
