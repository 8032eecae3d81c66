"""Session cookies: signed (itsdangerous, HMAC-SHA1 over the payload and its time), HttpOnly,
SameSite=Lax, Secure over HTTPS; an idle and an absolute lifetime; a CSRF token per session.
Stateless: nothing is stored server-side, so signing out clears the cookie in that browser."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer

from monitor.auth.roles import Principal

COOKIE = "pm_session"
SESSION_IDLE = timedelta(hours=8)
"""A session unused this long ends: a working day; a page left open keeps it alive (pages poll)."""
SESSION_ABSOLUTE = timedelta(hours=24)
"""However busy, a session ends a day after its login: a stolen cookie is good for a day at most,
and a role changed in the identity provider applies by the next morning."""
SESSION_REFRESH = timedelta(minutes=1)
"""A cookie older than this is signed again on the next request (its time is the idle clock)."""
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"  # the same token in a form (sign-out)
_SALT = "platform-monitor session"


@dataclass(frozen=True, slots=True)
class Session:
    name: str
    role: str
    source: str  # local | oidc
    csrf: str
    issued: float
    signed_at: float

    def principal(self) -> Principal:
        return Principal(name=self.name, role=self.role, credential="session", csrf=self.csrf,  # type: ignore[arg-type]
                         source=self.source)


class SessionCodec:
    """Signs and reads session cookies with one key (see auth.session_secret)."""

    def __init__(self, secret: str | bytes) -> None:
        self._secret = secret
        self._serializer = URLSafeTimedSerializer(secret, salt=_SALT)

    def flow_serializer(self) -> URLSafeTimedSerializer:
        """For the OIDC flow cookie (state, nonce, PKCE verifier): the same key, its own salt."""
        return URLSafeTimedSerializer(self._secret, salt="platform-monitor oidc flow")

    def new(self, *, name: str, role: str, source: str, now: float | None = None) -> tuple[str, Session]:
        """A fresh session's cookie value and the session."""
        now = time.time() if now is None else now
        session = Session(name=name, role=role, source=source, csrf=secrets.token_urlsafe(24), issued=now,
                          signed_at=now)
        return self.sign(session), session

    def sign(self, session: Session) -> str:
        return self._serializer.dumps({"u": session.name, "r": session.role, "s": session.source,
                                       "c": session.csrf, "i": session.issued})

    def read(self, value: str, *, now: float | None = None) -> Session | None:
        """The session in a cookie value, or None when it is forged, idle too long or too old."""
        now = time.time() if now is None else now
        try:
            data, signed = self._serializer.loads(value, return_timestamp=True)
        except (BadSignature, ValueError, TypeError):
            return None
        if now - signed.timestamp() > SESSION_IDLE.total_seconds():
            return None  # unused for too long (each request within the refresh period signs it again)
        try:
            session = Session(name=str(data["u"]), role=str(data["r"]), source=str(data["s"]), csrf=str(data["c"]),
                              issued=float(data["i"]), signed_at=signed.timestamp())
        except (KeyError, TypeError, ValueError):
            return None
        if now - session.issued > SESSION_ABSOLUTE.total_seconds():
            return None
        return session


def cookie_header(value: str, *, secure: bool, clear: bool = False) -> str:
    """The Set-Cookie header value of a session cookie (or of its removal)."""
    parts = [f"{COOKIE}={'' if clear else value}", "Path=/", "HttpOnly", "SameSite=Lax"]
    if clear:
        parts.append("Max-Age=0")
    else:
        parts.append(f"Max-Age={int(SESSION_ABSOLUTE.total_seconds())}")
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def new_secret() -> str:
    return secrets.token_urlsafe(48)
