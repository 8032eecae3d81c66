"""Who reads a page: the language (the cookie of the pages' switch, `ui.language`, the browser's
Accept-Language) and the time zone (`ui.timezone`; None: the browser's) a request is answered in."""

from __future__ import annotations

from fastapi import Request

from dashboards.i18n import COOKIE, Words, choose, words

__all__ = ["language", "reader_words", "timezone"]


def _ui(request: Request):
    service = getattr(request.app.state, "service", None)
    return None if service is None else service.config.ui


def language(request: Request) -> str:
    ui = _ui(request)
    return choose(cookie=request.cookies.get(COOKIE), configured=ui.language if ui else "auto",
                  accept_language=request.headers.get("accept-language"))


def reader_words(request: Request) -> Words:
    return words(language(request))


def timezone(request: Request) -> str | None:
    ui = _ui(request)
    return ui.timezone if ui else None
