"""Test peers for the registry probe that Debian does not ship: a token server signing RS256 JWTs
the way distribution's token auth checks them (x5c chain to `rootcertbundle`, iss, aud, exp,
access), and a Harbor double (health body, Harbor-style token flow, blobs redirected to storage,
replication policies and executions)."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import ssl
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from tests.pki import TlsFiles
from tests.registry.images import sha256


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def basic_user(header: str | None) -> tuple[str, str] | None:
    """(user, password) from an `Authorization: Basic …` value."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1:0 in a daemon thread, routing to `self.handle`;
    HTTPS with `tls`'s server certificate when given."""

    def __init__(self, *, tls: TlsFiles | None = None) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                outer._dispatch(self, "GET")

            def do_HEAD(self) -> None:
                outer._dispatch(self, "HEAD")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls.cert_file, tls.key_file)
            # The handshake runs in accept(), on the serving thread: fine for one test's clients.
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def _dispatch(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        status, headers, body = self.handle(method, handler.path, handler.headers)
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if method != "HEAD":
            handler.wfile.write(body)

    def handle(self, method: str, path: str, headers: Any) -> tuple[int, dict[str, str], bytes]:
        raise NotImplementedError

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _json(status: int, data: Any, **headers: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json", **headers}, json.dumps(data).encode()


def _error(status: int, code: str, message: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    return _json(status, {"errors": [{"code": code, "message": message, "detail": None}]}, **headers)


class TokenServer(_Server):
    """distribution's token flow: `GET /token?service=&scope=…` (HTTP Basic for `users`,
    anonymous → pull only) answers a JWT whose x5c chains to `rootcertbundle`. `requests` records
    each request's user and scopes; `untrusted = True` signs with a key the registry does not trust.
    `tls` serves the realm over HTTPS."""

    SERVICE = "pm-registry"
    ISSUER = "pm-token-issuer"

    def __init__(
        self,
        tmp: Path,
        users: dict[str, str],
        *,
        expires_in: int | None = 300,
        field: str = "token",
        tls: TlsFiles | None = None,
    ):
        self.users = users
        self.expires_in = expires_in
        self.field = field
        self.untrusted = False
        self.requests: list[dict[str, Any]] = []
        ca = trustme.CA(key_type=trustme.KeyType.RSA)
        self.rootcertbundle = tmp / "token-ca.pem"
        ca.cert_pem.write_to_path(str(self.rootcertbundle))
        self._signers = [self._signer(ca), self._signer(trustme.CA(key_type=trustme.KeyType.RSA))]
        super().__init__(tls=tls)

    @staticmethod
    def _signer(ca: trustme.CA) -> tuple[Any, list[str]]:
        leaf = ca.issue_cert("pm-token-signer", key_type=trustme.KeyType.RSA)
        key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
        cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
        return key, [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]

    def registry_auth(self) -> dict[str, Any]:
        """The `auth:` section of a distribution config that trusts this server."""
        return {"token": {"realm": f"{self.url}/token", "service": self.SERVICE, "issuer": self.ISSUER,
                          "rootcertbundle": str(self.rootcertbundle)}}

    def jwt(self, user: str, access: list[dict[str, Any]], service: str) -> str:
        key, x5c = self._signers[1 if self.untrusted else 0]
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": x5c}
        claims = {"iss": self.ISSUER, "sub": user, "aud": service, "exp": now + (self.expires_in or 60),
                  "nbf": now - 1, "iat": now, "jti": secrets.token_hex(8), "access": access}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def push_token(self, name: str) -> str:
        """A token with pull and push on `name`, for the tests' own pushes."""
        return self.jwt("tests", [{"type": "repository", "name": name, "actions": ["pull", "push"]}], self.SERVICE)

    def handle(self, method: str, path: str, headers: Any) -> tuple[int, dict[str, str], bytes]:
        url = urlsplit(path)
        if url.path != "/token":
            return _json(404, {"details": "not found"})
        query = parse_qs(url.query)
        credentials = basic_user(headers.get("Authorization"))
        scopes = query.get("scope", [])
        self.requests.append({"user": credentials[0] if credentials else None, "scopes": scopes,
                              "service": query.get("service", [""])[0]})
        if credentials is not None and self.users.get(credentials[0]) != credentials[1]:
            return _json(401, {"details": "incorrect username or password"})
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            granted = actions.split(",") if credentials else [a for a in actions.split(",") if a == "pull"]
            access.append({"type": kind, "name": name, "actions": granted})
        token = self.jwt(credentials[0] if credentials else "", access, query.get("service", [""])[0])
        body: dict[str, Any] = {self.field: token, "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        return _json(200, body)


class BlobStorage(_Server):
    """Object storage that the Harbor double redirects blob downloads to; records the
    Authorization header of each download (None when absent)."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.seen_authorization: list[str | None] = []
        self.corrupt = False
        self.loop = False  # answer every download with a redirect to itself
        super().__init__()

    def handle(self, method: str, path: str, headers: Any) -> tuple[int, dict[str, str], bytes]:
        self.seen_authorization.append(headers.get("Authorization"))
        if self.loop:
            return 302, {"Location": path}, b""
        digest = urlsplit(path).path.rsplit("/", 1)[-1]
        data = self.blobs.get(digest)
        if data is None:
            return 404, {}, b"NoSuchKey"
        return 200, {"Content-Type": "application/octet-stream"}, (b"X" + data[1:]) if self.corrupt else data


HEALTHY = ["core", "database", "jobservice", "portal", "redis", "registry", "registryctl", "trivy"]


def harbor_time(unix: float | None) -> str:
    """Harbor's JSON time (go-openapi strfmt.DateTime, RFC 3339 with milliseconds, UTC); None is
    Go's zero time, which Harbor shows as a running execution's `end_time`."""
    if unix is None:
        return "0001-01-01T00:00:00.000Z"
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def replication_policy(policy_id: int, name: str, *, enabled: bool = True) -> dict[str, Any]:
    """A ReplicationPolicy as Harbor 2.x lists it (a pull-mode policy from a dev registry)."""
    return {
        "id": policy_id, "name": name, "description": "promote release tags", "creation_time": harbor_time(0),
        "update_time": harbor_time(0), "enabled": enabled, "override": True, "replicate_deletion": False,
        "deletion": False, "dest_namespace": "", "dest_namespace_replace_count": -1, "speed": -1,
        "copy_by_chunk": False, "single_active_replication": True,
        "src_registry": {"id": 3, "name": "reg-test", "type": "docker-registry", "url": "https://reg.test.local",
                         "insecure": False, "status": "healthy", "credential": {"type": "basic",
                                                                                "access_key": "robot",
                                                                                "access_secret": "*****"}},
        "dest_registry": {"id": 0, "name": "Local", "type": "harbor", "url": "http://harbor-core:8080",
                          "insecure": True, "status": "healthy"},
        "filters": [{"type": "name", "value": "paas/**"}, {"type": "tag", "value": "release"}],
        "trigger": {"type": "scheduled", "trigger_settings": {"cron": "0 */15 * * * *"}},
    }


def replication_execution(
    execution_id: int, policy_id: int, status: str, *, start: float, end: float | None,
    total: int = 10, failed: int = 0, succeed: int | None = None, status_text: str = "", trigger: str = "scheduled",
) -> dict[str, Any]:
    """A ReplicationExecution as Harbor 2.x lists it; `status` is Succeed, Failed, InProgress or
    Stopped; `end` None while it runs."""
    in_progress = total - failed - (succeed or 0) if status == "InProgress" else 0
    return {
        "id": execution_id, "policy_id": policy_id, "status": status, "status_text": status_text,
        "trigger": trigger, "start_time": harbor_time(start), "end_time": harbor_time(end), "total": total,
        "failed": failed, "succeed": total - failed if succeed is None else succeed, "in_progress": in_progress,
        "stopped": 0,
    }


class HarborDouble(_Server):
    """What the registry probe sees of Harbor 2.x: `/api/v2.0/health` (always 200, the verdict
    in the body), `/v2/` behind Harbor's token service (`/service/token`, service
    `harbor-registry`), manifests, and blobs redirected (307) to `storage`; and what the
    registry_sync probe reads: `/api/v2.0/replication/policies` (`name` matched fuzzily, as
    Harbor does) and `/api/v2.0/replication/executions` (`policy_id`, `sort`, `page`,
    `page_size`), both behind HTTP Basic. `api_requests` records (path, query, user)."""

    def __init__(self, users: dict[str, str]) -> None:
        self.users = users
        self.policies: list[dict[str, Any]] = []
        self.executions: list[dict[str, Any]] = []
        self.api_requests: list[tuple[str, dict[str, list[str]], str | None]] = []
        self.unhealthy: dict[str, str] = {}  # component → error
        self.manifests: dict[tuple[str, str], tuple[str, bytes]] = {}  # (name, tag or digest) → (type, body)
        self.retry_after: str | None = None  # set: manifests answer 429 with this Retry-After
        self.open_ping = False  # `/v2/` answers 200 without a token; repositories still need one
        self.tokens: set[str] = set()
        self.token_requests: list[dict[str, Any]] = []
        self.storage = BlobStorage()
        super().__init__()

    def add(self, name: str, tag: str, media_type: str, manifest: bytes, blobs: list[bytes]) -> str:
        digest = sha256(manifest)
        self.manifests[(name, tag)] = self.manifests[(name, digest)] = (media_type, manifest)
        self.storage.blobs.update({sha256(b): b for b in blobs})
        return digest

    def health(self) -> dict[str, Any]:
        components = []
        for name in HEALTHY:
            error = self.unhealthy.get(name)
            components.append({"name": name, "status": "unhealthy" if error else "healthy",
                               **({"error": error} if error else {})})
        return {"status": "unhealthy" if self.unhealthy else "healthy", "components": components}

    def handle(self, method: str, path: str, headers: Any) -> tuple[int, dict[str, str], bytes]:
        url = urlsplit(path)
        if url.path == "/api/v2.0/health":
            return _json(200, self.health())
        if url.path == "/service/token":
            return self._token(parse_qs(url.query), headers)
        if url.path.startswith("/api/v2.0/replication/"):
            return self._replication(url.path, parse_qs(url.query), headers)
        if not url.path.startswith("/v2/"):
            return _json(404, {"errors": [{"code": "NOT_FOUND", "message": "not found"}]})
        parts = url.path[len("/v2/"):].split("/")
        name = "/".join(parts[:-2]) if len(parts) >= 3 else ""
        authorization = headers.get("Authorization") or ""
        if url.path == "/v2/" and self.open_ping:
            return _json(200, {})
        if authorization.removeprefix("Bearer ") not in self.tokens:
            scope = f',scope="repository:{name}:pull"' if name else ""
            challenge = f'Bearer realm="{self.url}/service/token",service="harbor-registry"{scope}'
            return _error(401, "UNAUTHORIZED", "unauthorized to access repository", **{"WWW-Authenticate": challenge})
        if url.path == "/v2/":
            return _json(200, {})
        if len(parts) >= 3 and parts[-2] == "manifests":
            return self._manifest(name, parts[-1])
        if len(parts) >= 3 and parts[-2] == "blobs":
            return 307, {"Location": f"{self.storage.url}/harbor-bucket/blobs/{parts[-1]}?X-Sig=abc"}, b""
        return _error(404, "NOT_FOUND", "not found")

    def _token(self, query: dict[str, list[str]], headers: Any) -> tuple[int, dict[str, str], bytes]:
        credentials = basic_user(headers.get("Authorization"))
        self.token_requests.append({"user": credentials and credentials[0], "scopes": query.get("scope", []),
                                    "service": query.get("service", [""])[0]})
        if credentials is None or self.users.get(credentials[0]) != credentials[1]:
            return _error(401, "UNAUTHORIZED", "invalid credentials")
        token = secrets.token_urlsafe(24)
        self.tokens.add(token)
        return _json(200, {"token": token, "access_token": token, "expires_in": 1800,
                           "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})

    def _replication(self, path: str, query: dict[str, list[str]], headers: Any) -> tuple[int, dict[str, str], bytes]:
        credentials = basic_user(headers.get("Authorization"))
        self.api_requests.append((path, query, credentials and credentials[0]))
        if credentials is None or self.users.get(credentials[0]) != credentials[1]:
            return _error(401, "UNAUTHORIZED", "UnAuthorized")
        if path == "/api/v2.0/replication/policies":
            name = query.get("name", [""])[0]
            items = [p for p in self.policies if name in p["name"]]
        elif path == "/api/v2.0/replication/executions":
            wanted = query.get("policy_id", [None])[0]
            items = [e for e in self.executions if wanted is None or str(e["policy_id"]) == wanted]
            if query.get("sort", [""])[0] == "-start_time":
                items.sort(key=lambda e: e["start_time"], reverse=True)
        else:
            return _error(404, "NOT_FOUND", "not found")
        page, size = int(query.get("page", ["1"])[0]), int(query.get("page_size", ["10"])[0])
        return _json(200, items[(page - 1) * size:page * size], **{"X-Total-Count": str(len(items))})

    def _manifest(self, name: str, reference: str) -> tuple[int, dict[str, str], bytes]:
        if self.retry_after is not None:
            return _error(429, "TOOMANYREQUESTS", "too many requests", **{"Retry-After": self.retry_after})
        found = self.manifests.get((name, reference))
        if found is None:
            return _error(404, "MANIFEST_UNKNOWN", f"artifact {name}:{reference} not found")
        media_type, body = found
        return 200, {"Content-Type": media_type, "Docker-Content-Digest": sha256(body)}, body

    def close(self) -> None:
        self.storage.close()
        super().close()
