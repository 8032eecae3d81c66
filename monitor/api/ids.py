"""The path shape of a check id, which holds `/` ("cluster-a/control-plane/apiserver"): the
`{check_id:check_id}` convertor matches one or more segments whose last one is not a check
sub-resource's name, so `/checks/{id}`, `/checks/{id}/results`, `/checks/{id}/history` and
`/checks/{id}/daily` each match only their own URLs whatever order the routers are included in.
Registered with Starlette once, when this module is imported (before any route is declared)."""

from __future__ import annotations

from starlette.convertors import CONVERTOR_TYPES, Convertor, register_url_convertor

__all__ = ["CHECK_ID", "CHECK_SUB_RESOURCES", "CheckIdConvertor"]

CHECK_SUB_RESOURCES = ("results", "history", "daily")
"""What may follow a check id in a path. A check whose id ends in one of these words (say
`web/history`) cannot be named in a URL: config ids are `<component>/<name>`, so a name never
needs to be one of them."""
CHECK_ID = "check_id"
_RESERVED = "|".join(CHECK_SUB_RESOURCES)


class CheckIdConvertor(Convertor[str]):
    """`/`-separated non-empty segments; the last is not a sub-resource name."""

    regex = rf"(?:[^/]+/)*(?!(?:{_RESERVED})(?![^/]))[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return str(value)


if CHECK_ID not in CONVERTOR_TYPES:
    register_url_convertor(CHECK_ID, CheckIdConvertor())
