"""/login/oidc and /login/oidc/callback: single sign-on with an OpenID Connect provider, by the
authorization code flow with PKCE (S256). `state`, `nonce` and the PKCE verifier travel in a
signed, short-lived cookie; the ID token's signature, issuer, audience, expiry and nonce are
checked against the issuer's discovery document and keys (Authlib builds the PKCE challenge and
the token request, sent with client_secret_basic; joserfc verifies the token). A user whose
groups map to no role is refused with a page saying so."""

from __future__ import annotations

import hmac
import logging
import secrets
import ssl
import time
from typing import Any

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from monitor.auth.config import OidcConfig
from monitor.auth.gate import client_address, runtime, secure_cookies
from monitor.auth.login import audit_event, page, safe_next, start_session
from monitor.auth.roles import RANK, Principal
from probes.clients import client_ssl_context

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

CALLBACK = "/login/oidc/callback"
FLOW_COOKIE = "pm_oidc"
FLOW_LIFETIME = 600  # seconds between leaving for the provider and coming back
CLOCK_LEEWAY = 60  # seconds of clock difference with the provider tolerated on exp/iat/nbf
PROVIDER_TIMEOUT = 10.0  # seconds for each request to the provider
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
"""Signatures accepted on ID tokens: asymmetric only (never `none`, never an HMAC keyed with the
client secret, which anyone holding it could forge)."""


class OidcRefused(Exception):
    """A sign-in that cannot go on; the message is shown to the person (no secrets in it)."""


def _flow_codec(request: Request) -> URLSafeTimedSerializer:
    return runtime(request.app).codec.flow_serializer()


def redirect_uri(config: Any) -> str:
    base = config.server.public_url or f"http://{config.server.host}:{config.server.port}"
    return base.rstrip("/") + CALLBACK


def _ssl(oidc: OidcConfig) -> ssl.SSLContext:
    tls = oidc.tls
    return client_ssl_context(verify=tls.verify, ca_file=tls.ca_file, cert_file=tls.cert_file, key_file=tls.key_file)


def _client(oidc: OidcConfig) -> httpx.AsyncClient:
    return httpx.AsyncClient(verify=_ssl(oidc), timeout=PROVIDER_TIMEOUT)


async def discover(oidc: OidcConfig) -> dict[str, Any]:
    """The issuer's discovery document, its `issuer` checked against ours."""
    url = oidc.issuer.rstrip("/") + "/.well-known/openid-configuration"
    async with _client(oidc) as client:
        answer = await client.get(url)
    if answer.status_code != 200:
        raise OidcRefused(f"the identity provider's discovery document answered HTTP {answer.status_code}")
    doc = answer.json()
    if doc.get("issuer") != oidc.issuer:
        raise OidcRefused("the identity provider's discovery document names another issuer")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(doc.get(key), str):
            raise OidcRefused(f"the identity provider's discovery document has no {key}")
    return doc


def _refused(request: Request, message: str, status_code: int = 403) -> Response:
    runtime(request.app).limiter.counted("oidc")
    return page(request, "login_refused.html", status_code, page="login", public=True, message=message)


@router.get("/login/oidc")
async def oidc_start(request: Request) -> Response:
    """Leave for the provider's authorization endpoint with state, nonce and a PKCE challenge."""
    config = request.app.state.service.config
    oidc = config.auth.oidc if config.auth else None
    if oidc is None:
        return _refused(request, "Single sign-on is not configured (auth.oidc).", 404)
    try:
        doc = await discover(oidc)
    except (OidcRefused, httpx.HTTPError, ValueError) as exc:
        log.warning("oidc: discovery failed: %s", type(exc).__name__ if not isinstance(exc, OidcRefused) else exc)
        return _refused(request, "The identity provider cannot be reached or answered wrongly; try again later.",
                        502)
    state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    flow = _flow_codec(request).dumps({"s": state, "n": nonce, "v": verifier,
                                       "next": safe_next(request.query_params.get("next"))})
    params = httpx.QueryParams({
        "response_type": "code", "client_id": oidc.client_id, "redirect_uri": redirect_uri(config),
        "scope": " ".join(oidc.scopes), "state": state, "nonce": nonce,
        "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256",
    })
    endpoint = doc["authorization_endpoint"]
    response = RedirectResponse(f"{endpoint}{'&' if '?' in endpoint else '?'}{params}", status_code=303)
    secure = "; Secure" if secure_cookies(request.scope, config) else ""
    response.headers.append("set-cookie", f"{FLOW_COOKIE}={flow}; Path={CALLBACK}; HttpOnly; SameSite=Lax; "
                                          f"Max-Age={FLOW_LIFETIME}{secure}")
    return response


@router.get(CALLBACK)
async def oidc_callback(request: Request) -> Response:
    """Back from the provider: check state, exchange the code (with the PKCE verifier), verify the
    ID token, map its groups to a role, start a session."""
    config = request.app.state.service.config
    oidc = config.auth.oidc if config.auth else None
    if oidc is None:
        return _refused(request, "Single sign-on is not configured (auth.oidc).", 404)
    try:
        flow = _flow_codec(request).loads(request.cookies.get(FLOW_COOKIE, ""), max_age=FLOW_LIFETIME)
    except BadSignature:
        return _refused(request, "This sign-in started too long ago or in another browser: start again.", 400)
    params = request.query_params
    if params.get("error"):
        return _refused(request, f"The identity provider refused the sign-in ({params.get('error')[:100]}).")
    if not hmac.compare_digest(params.get("state", "").encode(), str(flow["s"]).encode()):
        return _refused(request, "The sign-in's state does not match: start again.", 400)
    try:
        claims = await _verified_claims(oidc, config, code=params.get("code", ""), verifier=str(flow["v"]),
                                        nonce=str(flow["n"]))
    except OidcRefused as exc:
        log.warning("oidc: sign-in refused from %s: %s", client_address(request.scope), exc)
        return _refused(request, f"Sign-in refused: {exc}.")
    name = str(claims.get("preferred_username") or claims.get("email") or claims["sub"])[:200]
    groups = claims.get(oidc.roles_claim, [])
    groups = [groups] if isinstance(groups, str) else [str(g) for g in groups] if isinstance(groups, list) else []
    roles = [oidc.role_map[g] for g in groups if g in oidc.role_map]
    if not roles:
        who = Principal(name=name, role=None, credential="session", source="oidc")
        await audit_event(request, who, action="GET /login/oidc/callback", status=403, outcome="refused",
                          detail="no mapped group")
        return _refused(request, f"You are signed in at the identity provider as {name}, but none of your groups "
                                 f"is given a role in platform-monitor. Ask an administrator to map one of them "
                                 f"in auth.oidc.role_map.")
    role = max(roles, key=RANK.__getitem__)
    await audit_event(request, Principal(name=name, role=role, credential="session", source="oidc"),
                      action="GET /login/oidc/callback", status=303, outcome="success")
    response = start_session(request, name=name, role=role, source="oidc", to=str(flow.get("next", "/")))
    response.headers.append("set-cookie", f"{FLOW_COOKIE}=; Path={CALLBACK}; Max-Age=0; HttpOnly; SameSite=Lax")
    return response


async def _verified_claims(oidc: OidcConfig, config: Any, *, code: str, verifier: str, nonce: str) -> dict[str, Any]:
    """The ID token's claims once the code is exchanged and the token verified; OidcRefused otherwise."""
    if not code:
        raise OidcRefused("the provider sent no authorization code")
    try:
        doc = await discover(oidc)
        body = prepare_token_request("authorization_code", code=code, redirect_uri=redirect_uri(config),
                                     code_verifier=verifier)
        async with _client(oidc) as http:
            answer = await http.post(doc["token_endpoint"], content=body, auth=(oidc.client_id, oidc.client_secret),
                                     headers={"Content-Type": "application/x-www-form-urlencoded",
                                              "Accept": "application/json"})
            token = answer.raise_for_status().json()
            keys = (await http.get(doc["jwks_uri"])).raise_for_status().json()
    except OidcRefused:
        raise
    except Exception as exc:  # the provider's answers, whatever their fault: say which step failed
        raise OidcRefused(f"the code exchange with the identity provider failed ({type(exc).__name__})") from None
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise OidcRefused("the provider sent no ID token")
    try:
        decoded = jwt.decode(id_token, KeySet.import_key_set(keys), algorithms=ALGORITHMS)
    except (JoseError, ValueError) as exc:
        raise OidcRefused(f"the ID token's signature does not verify ({type(exc).__name__})") from None
    claims = decoded.claims
    registry = jwt.JWTClaimsRegistry(now=int(time.time()), leeway=CLOCK_LEEWAY,
                                     iss={"essential": True, "value": oidc.issuer},
                                     aud={"essential": True, "value": oidc.client_id},
                                     exp={"essential": True}, sub={"essential": True})
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise OidcRefused(f"the ID token is not valid here ({exc.error}: {getattr(exc, 'claim', '')})") from None
    if not hmac.compare_digest(str(claims.get("nonce", "")).encode(), nonce.encode()):
        raise OidcRefused("the ID token's nonce does not match this sign-in")
    return claims
