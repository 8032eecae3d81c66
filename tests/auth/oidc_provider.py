"""A faithful OpenID Connect provider double on 127.0.0.1: a discovery document, a JWKS, an
authorization endpoint (it approves at once as `user`, as a provider does for someone already
signed in there) and a token endpoint that checks what a real one checks: the client's secret
(client_secret_basic), the code (once, unexpired, for that client and redirect URI) and the PKCE
verifier against the S256 challenge. ID tokens are RS256-signed; `tamper` makes the next one wrong
in one way (nonce, expired, audience, issuer, signature, hs256) for the refusal tests."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import uvicorn
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.peers import free_port
from tests.targets import ServiceThread

CODE_LIFETIME = 60  # seconds


@dataclass
class OidcUser:
    sub: str = "u-1001"
    preferred_username: str = "sara"
    email: str = "sara@example.com"
    groups: list[str] = field(default_factory=lambda: ["sre", "staff"])


class _TlsThread(ServiceThread):
    """ServiceThread serving HTTPS with a certificate and key file."""

    def __init__(self, app, port: int, cert_file: str, key_file: str) -> None:
        super().__init__(app, port)
        self.url = f"https://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                    lifespan="on", loop="asyncio", ssl_certfile=cert_file,
                                                    ssl_keyfile=key_file))
        self._thread = threading.Thread(target=self.server.run, daemon=True)


class OidcProvider:
    """`tls=(cert_file, key_file)`: serve HTTPS (the issuer is then https://127.0.0.1:port)."""

    def __init__(self, *, client_id: str = "platform-monitor", client_secret: str = "provider-secret-42",
                 tls: tuple[str, str] | None = None) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.key = RSAKey.generate_key(2048, parameters={"kid": "key-1", "use": "sig", "alg": "RS256"})
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": "key-1", "use": "sig", "alg": "RS256"})
        self.user = OidcUser()
        self.tamper: str | None = None
        self.redirect_uris: set[str] = set()
        self.codes: dict[str, dict[str, Any]] = {}
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        self.port = free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        app = Starlette(routes=[
            Route("/.well-known/openid-configuration", self.discovery),
            Route("/jwks", self.jwks),
            Route("/authorize", self.authorize),
            Route("/token", self.token, methods=["POST"]),
        ])
        self.thread = ServiceThread(app, self.port) if tls is None else _TlsThread(app, self.port, *tls)

    def start(self) -> OidcProvider:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.thread.stop()

    async def discovery(self, request: Request) -> Response:
        return JSONResponse({
            "issuer": self.url, "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token", "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        })

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(KeySet([self.key]).as_dict(private=False))

    async def authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.authorize_requests.append(q)
        problems = [name for name, ok in (
            ("response_type", q.get("response_type") == "code"), ("client_id", q.get("client_id") == self.client_id),
            ("redirect_uri", q.get("redirect_uri") in self.redirect_uris),
            ("code_challenge_method", q.get("code_challenge_method") == "S256"),
            ("code_challenge", bool(q.get("code_challenge"))), ("state", bool(q.get("state"))),
            ("nonce", bool(q.get("nonce"))), ("scope", "openid" in q.get("scope", "").split()),
        ) if not ok]
        if problems:
            return JSONResponse({"error": "invalid_request", "bad": problems}, status_code=400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"redirect_uri": q["redirect_uri"], "challenge": q["code_challenge"], "nonce": q["nonce"],
                            "at": time.time(), "user": self.user}
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}", 302)

    async def token(self, request: Request) -> Response:
        form = dict(await request.form())
        self.token_requests.append(form)
        basic = request.headers.get("authorization", "")
        expected = "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if basic != expected:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = self.codes.pop(form.get("code", ""), None)  # a code is good once
        if form.get("grant_type") != "authorization_code" or grant is None \
                or time.time() - grant["at"] > CODE_LIFETIME or form.get("redirect_uri") != grant["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != grant["challenge"]:
            return JSONResponse({"error": "invalid_grant", "error_description": "PKCE verifier"}, status_code=400)
        return JSONResponse({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 300,
                             "id_token": self.id_token(grant["user"], grant["nonce"])})

    def id_token(self, user: OidcUser, nonce: str) -> str:
        now = int(time.time())
        claims = {"iss": self.url, "sub": user.sub, "aud": self.client_id, "iat": now, "exp": now + 300,
                  "nonce": nonce, "preferred_username": user.preferred_username, "email": user.email,
                  "groups": user.groups}
        key = self.key
        tamper, self.tamper = self.tamper, None
        if tamper == "nonce":
            claims["nonce"] = "not-the-nonce-sent"
        elif tamper == "expired":
            claims.update(iat=now - 3600, exp=now - 600)
        elif tamper == "audience":
            claims["aud"] = "another-client"
        elif tamper == "issuer":
            claims["iss"] = "https://impostor.example.com"
        elif tamper == "signature":
            key = self.other_key
        elif tamper == "hs256":  # signed with the client secret: anyone holding it could forge such a token
            return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(self.client_secret.encode()))
        return jwt.encode({"alg": "RS256", "kid": "key-1"}, claims, key)
