"""HTTP authentication for probes that send several requests: a static bearer token, basic
credentials, or an OAuth2 client-credentials token fetched at the start of each run (RFC 6749
§4.4). Turns settings into an Authorization header; keeps no token between runs."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any, Literal
from urllib.parse import quote_plus

import httpx
from pydantic import BaseModel, ConfigDict, Field

from probes.base import HttpUrl
from probes.http_expect import failure_reason, read_body

__all__ = ["AuthError", "AuthSettings", "BasicAuth", "BearerAuth", "OAuth2ClientCredentials", "authorization"]

TOKEN_BODY_BYTES = 64 * 1024  # a token response is a small JSON document
_SHOWN_CHARS = 120  # of an error description quoted in a reason


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BearerAuth(_Model):
    """`Authorization: Bearer <token>` on every request."""

    kind: Literal["bearer"] = "bearer"
    token: str = Field(min_length=1)


class BasicAuth(_Model):
    """HTTP Basic (RFC 7617) on every request."""

    kind: Literal["basic"] = "basic"
    username: str
    password: str


class OAuth2ClientCredentials(_Model):
    """A token from `token_url` by the client-credentials grant, fetched once per run (so the token
    endpoint is probed too) and sent as a bearer token."""

    kind: Literal["oauth2_client_credentials"] = "oauth2_client_credentials"
    token_url: HttpUrl
    client_id: str = Field(min_length=1)
    client_secret: str
    scope: str | None = None
    """Space-separated scopes to ask for."""
    client_auth: Literal["basic", "body"] = "basic"
    """How the client authenticates: HTTP Basic (RFC 6749 §2.3.1, `client_secret_basic`) or
    `client_id`/`client_secret` in the form body (`client_secret_post`)."""
    params: dict[str, str] = Field(default_factory=dict)
    """Extra form fields of the token request (e.g. `audience`)."""



AuthSettings = Annotated[BearerAuth | BasicAuth | OAuth2ClientCredentials, Field(discriminator="kind")]


class AuthError(Exception):
    """Authentication could not be obtained; the message is the reason."""


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


async def authorization(auth: BearerAuth | BasicAuth | OAuth2ClientCredentials, client: httpx.AsyncClient,
                        *, backstop: float) -> str:
    """The Authorization header value for these settings; AuthError with a reason if the token
    endpoint fails. `backstop` is httpx's timeout (the runner's comes first)."""
    if isinstance(auth, BearerAuth):
        return f"Bearer {auth.token}"
    if isinstance(auth, BasicAuth):
        return _basic(auth.username, auth.password)
    return f"Bearer {await _client_credentials_token(auth, client, backstop)}"


async def _client_credentials_token(auth: OAuth2ClientCredentials, client: httpx.AsyncClient, backstop: float) -> str:
    form = {"grant_type": "client_credentials", **auth.params}
    if auth.scope:
        form["scope"] = auth.scope
    headers = {"Accept": "application/json"}
    if auth.client_auth == "basic":
        # RFC 6749 §2.3.1: both are form-urlencoded before the Basic encoding.
        headers["Authorization"] = _basic(quote_plus(auth.client_id), quote_plus(auth.client_secret))
    else:
        form.update(client_id=auth.client_id, client_secret=auth.client_secret)
    request = client.build_request("POST", auth.token_url, data=form, headers=headers, timeout=backstop)
    try:
        response = await client.send(request, stream=True)
        try:
            body, _ = await read_body(response, TOKEN_BODY_BYTES)
        finally:
            await response.aclose()
    except httpx.HTTPError as exc:
        raise AuthError(f"token request: {failure_reason(exc)}") from None
    document = _json_object(body)
    if response.status_code != 200:
        raise AuthError(f"token request: HTTP {response.status_code}{_oauth_error(document)}")
    token = document.get("access_token") if document is not None else None
    if not isinstance(token, str) or not token:
        raise AuthError("token request: the response has no access_token")
    token_type = document.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise AuthError(f"token request: token_type {token_type!r} is not supported (only Bearer)")
    return token


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


def _oauth_error(document: dict[str, Any] | None) -> str:
    """`: invalid_client (Client authentication failed)` from an RFC 6749 §5.2 error response."""
    if not document or not isinstance(document.get("error"), str):
        return ""
    text = document["error"]
    description = document.get("error_description")
    if isinstance(description, str) and description:
        text += f" ({description[:_SHOWN_CHARS]})"
    return f": {text}"
