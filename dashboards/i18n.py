"""The UI's languages: English (the text in the templates and scripts) and Simplified Chinese, from
one gettext catalog per language (dashboards/locale/<ll_CC>/LC_MESSAGES/messages.po, compiled to
.mo). Which language a request reads, the words for the templates and figures, and the same
catalog as JSON for the page scripts. Knows nothing of pages or data."""

from __future__ import annotations

import gettext
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from babel.support import NullTranslations, Translations

__all__ = ["COOKIE", "LANGUAGES", "Words", "catalog_json", "choose", "words"]

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
LANGUAGES = {"en": "English", "zh-CN": "简体中文"}
"""Language tag (BCP 47, as in `ui.language` and the cookie) → its name in itself (the switch)."""
SOURCE = "en"  # the language of the msgids: no catalog of its own
COOKIE = "pm_lang"  # the reader's choice, set by the pages' language switch
COOKIE_MAX_AGE = 400 * 86400  # seconds: browsers cap cookies at 400 days
_Q = re.compile(r"^\s*q\s*=\s*([0-9.]+)\s*$")


def _directory(lang: str) -> str:
    return lang.replace("-", "_")  # zh-CN → zh_CN, gettext's directory name


@dataclass(frozen=True, slots=True)
class Words:
    """One language's gettext: `_` formats %(name)s placeholders from keyword arguments."""

    lang: str
    translations: NullTranslations

    def _(self, message: str, /, **values: Any) -> str:
        text = self.translations.gettext(message)
        return text % values if values else text

    def n_(self, singular: str, plural: str, n: int, /, **values: Any) -> str:
        text = self.translations.ngettext(singular, plural, n)
        return text % {"n": n, **values}


@cache
def words(lang: str) -> Words:
    """The words of `lang` (one of LANGUAGES), loaded once per process."""
    if lang == SOURCE:
        return Words(lang, NullTranslations())
    found = Translations.load(str(LOCALE_DIR), [_directory(lang)], DOMAIN)
    if not isinstance(found, Translations):  # a missing .mo is a packaging bug, not English
        raise FileNotFoundError(f"no compiled catalog for {lang} under {LOCALE_DIR}")
    return Words(lang, found)


def _accepted(header: str) -> list[str]:
    """Accept-Language's tags, best first (RFC 9110 §12.5.4; q=0 means not acceptable)."""
    ranked = []
    for i, item in enumerate(header.split(",")[:20]):
        tag, _, params = item.partition(";")
        match = _Q.match(params) if params else None
        try:
            q = float(match.group(1)) if match else 1.0
        except ValueError:
            q = 0.0
        if tag.strip() and q > 0:
            ranked.append((-q, i, tag.strip().lower()))
    return [tag for _, _, tag in sorted(ranked)]


def _from_header(header: str) -> str | None:
    for tag in _accepted(header):
        if tag == "*":
            return None
        primary = tag.split("-")[0]
        if primary == "zh":  # any Chinese reader: Simplified is the one we have
            return "zh-CN"
        if primary == "en":
            return "en"
    return None


def choose(*, cookie: str | None, configured: str, accept_language: str | None) -> str:
    """The request's language: the reader's choice (cookie), else `ui.language`, else (auto) the
    browser's Accept-Language, else English."""
    if cookie in LANGUAGES:
        return cookie
    if configured in LANGUAGES:
        return configured
    return _from_header(accept_language or "") or SOURCE


@cache
def catalog_json(lang: str) -> dict[str, Any]:
    """The compiled catalog of `lang` as the page scripts read it (dashboards/static/js/lib/i18n.js):
    {lang, plurals: number of plural forms, messages: {msgid: text | [forms]}}; a plural's key
    is its singular msgid."""
    translations = words(lang).translations
    messages: dict[str, Any] = {}
    plurals = 2
    if isinstance(translations, gettext.GNUTranslations):
        plurals = _plural_count(translations)
        forms: dict[str, dict[int, str]] = {}
        for key, text in translations._catalog.items():  # type: ignore[attr-defined]  # the parsed .mo
            if isinstance(key, tuple):
                forms.setdefault(key[0], {})[key[1]] = text
            elif key:  # "" is the catalog's header
                messages[key] = text
        messages |= {msgid: [f[i] for i in sorted(f)] for msgid, f in forms.items()}
    return {"lang": lang, "plurals": plurals, "messages": messages}


def _plural_count(translations: gettext.GNUTranslations) -> int:
    header = translations._info.get("plural-forms", "")  # type: ignore[attr-defined]
    match = re.search(r"nplurals\s*=\s*(\d+)", header)
    return int(match.group(1)) if match else 2
