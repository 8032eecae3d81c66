"""What the Kubernetes probes share: which cluster a check talks to, one API client per cluster
(credentials from kr8s, requests over httpx), a short-lived single-flight cache of the lists that
many checks read, and the "apiserver unreachable" signal. No probe logic; no `Check` here."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from probes.base import ProbeContext, Result, Status, os_error_reason

__all__ = [
    "SERVICE_ACCOUNT_DIR",
    "ApiError",
    "ClusterClient",
    "KubeClients",
    "KubeTarget",
    "age_seconds",
    "client_for",
    "kube_clients",
    "parse_healthz",
    "parse_time",
]

log = logging.getLogger(__name__)

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# How long a transport failure marks a cluster's apiserver unreachable for the checks that depend
# on it, at most (their own interval is used when shorter): one timeout answers for all of them.
UNREACHABLE_HOLD = 30.0  # seconds
USER_AGENT = "platform-monitor/0.1 (kubernetes probes)"

_HEALTHZ_LINE = re.compile(r"^\[([+-])\](\S+?)( excluded)?:? (ok|failed: .*)$")


class KubeTarget(BaseModel):
    """The cluster a check talks to and how to log in: a kubeconfig context, or the pod's
    service account (`in_cluster`). Checks with equal targets share one client."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    kubeconfig: str | None = None
    """Kubeconfig file(s) (`a:b` like $KUBECONFIG); default $KUBECONFIG, then ~/.kube/config."""
    context: str | None = None
    """Context in the kubeconfig; default its current-context."""
    in_cluster: bool = False
    service_account_dir: str = SERVICE_ACCOUNT_DIR


class ApiError(Exception):
    """A request the apiserver did not answer usefully. `kind`: unreachable (transport failure),
    unauthorized (401), forbidden (403), config (credentials cannot be loaded) or http (any
    other unexpected status)."""

    def __init__(self, kind: str, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.status = status

    @property
    def misconfigured(self) -> bool:
        """The monitor's side is wrong (no rights, no credentials): never the target's fault."""
        return self.kind in ("unauthorized", "forbidden", "config")

    def dependent_result(self) -> Result:
        """What a check that reads through the apiserver reports: never `down`, since the
        check's own target was not judged."""
        if self.kind == "unreachable":
            return Result(Status.UNKNOWN, f"apiserver unreachable: {self.reason}", {"apiserver": "unreachable"})
        if self.misconfigured:
            return Result(Status.UNKNOWN, f"misconfigured: {self.reason}", {"misconfigured": True})
        return Result(Status.UNKNOWN, f"apiserver error: {self.reason}", {"apiserver": "error"})


@dataclass(slots=True)
class _Entry:
    at: float
    value: Any = None
    error: ApiError | None = None


def status_message(response: httpx.Response) -> str:
    """The `message` of a Kubernetes Status object, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("kind") == "Status" and body.get("message"):
        return str(body["message"])[:300]
    return response.text.strip()[:300] or response.reason_phrase


def _transport_reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    return os_error_reason(exc) or (str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)


class ClusterClient:
    """One cluster's API client. Credentials come from kr8s (kubeconfig context, client
    certificates, tokens, exec plugins, the service account); requests go out over one httpx
    client with keep-alive, no redirects and no proxy settings from the environment.

    kr8s itself builds `/readyz/` (a 404) from a root path, so only its credential loading is
    used; after a 401 the credentials are loaded again once (expired exec or service-account
    tokens) before the 401 counts."""

    def __init__(self, target: KubeTarget) -> None:
        self.target = target
        self._api: Any = None
        self._http: httpx.AsyncClient | None = None
        self._connect_lock = asyncio.Lock()
        self._cache: dict[str, _Entry] = {}
        self._inflight: dict[str, asyncio.Task[Any]] = {}
        self.unreachable_since: float | None = None
        self.unreachable_reason = ""
        self.last_failure = 0.0
        self.last_contact: float | None = None
        self.memory: dict[str, Any] = {}
        """Per-cluster state probes keep between runs (a Lease's last transition count)."""

    # -- connection --------------------------------------------------------------------------
    def _kr8s_kwargs(self) -> dict[str, Any]:
        t = self.target
        if t.in_cluster:
            # A path that does not exist: kr8s then skips kubeconfig loading for the service account.
            return {"kubeconfig": os.path.join(t.service_account_dir, "no-kubeconfig"),
                    "serviceaccount": t.service_account_dir}
        kubeconfig = t.kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        paths = ":".join(os.path.expanduser(p) for p in kubeconfig.split(":"))
        # Every argument explicit: kr8s hands back an arbitrary cached client for an all-default call.
        return {"kubeconfig": paths, "context": t.context, "serviceaccount": ""}

    async def _connect(self) -> httpx.AsyncClient:
        async with self._connect_lock:
            if self._http is not None:
                return self._http
            kr8s_asyncio = importlib.import_module("kr8s.asyncio")
            try:
                api = await kr8s_asyncio.api(**self._kr8s_kwargs())
            except httpx.TransportError as exc:
                raise ApiError("unreachable", _transport_reason(exc)) from exc
            except (ValueError, KeyError, OSError) as exc:
                raise ApiError("config", f"cannot load credentials: {exc}") from exc
            except Exception as exc:
                raise self._kr8s_error(exc) from exc
            self._api = api
            self._http = await self._build_http(api)
            return self._http

    def _kr8s_error(self, exc: Exception) -> ApiError:
        response = getattr(exc, "response", None)
        if isinstance(response, httpx.Response):
            return self._status_error(response, "/version")
        cause = exc.__cause__
        if isinstance(cause, httpx.TransportError):
            return ApiError("unreachable", _transport_reason(cause))
        return ApiError("http", f"{type(exc).__name__}: {exc}"[:300])

    @staticmethod
    async def _build_http(api: Any) -> httpx.AsyncClient:
        auth = api.auth
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json, */*"}
        if auth.token:
            headers["Authorization"] = f"Bearer {auth.token.strip()}"
        return httpx.AsyncClient(
            base_url=auth.server,
            headers=headers,
            verify=await auth.ssl_context(),
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=5),
        )

    async def _reauthenticate(self) -> None:
        async with self._connect_lock:
            old, self._http = self._http, None
            if old is not None:
                await old.aclose()
            if self._api is not None:
                with contextlib.suppress(Exception):
                    await self._api.auth.reauthenticate()
                    self._http = await self._build_http(self._api)

    async def aclose(self) -> None:
        for task in self._inflight.values():
            task.cancel()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # -- requests ----------------------------------------------------------------------------
    async def request(self, path: str, *, params: dict[str, Any] | None = None, request_timeout: float = 10.0,
                      accept_statuses: tuple[int, ...] = (200,)) -> httpx.Response:
        """GET `path`; return the response when its status is in `accept_statuses`. Raises
        ApiError for a transport failure, a 401/403, or another status."""
        retried = False
        while True:
            http = self._http or await self._connect()
            try:
                response = await http.get(path, params=params, timeout=request_timeout)
            except httpx.TransportError as exc:
                self._mark_unreachable(_transport_reason(exc))
                raise ApiError("unreachable", self.unreachable_reason) from exc
            self._mark_reachable()
            if response.status_code == 401 and not retried:
                retried = True
                await self._reauthenticate()
                continue
            if response.status_code in accept_statuses:
                return response
            raise self._status_error(response, path)

    async def get_json(self, path: str, *, params: dict[str, Any] | None = None,
                       request_timeout: float = 10.0) -> Any:
        response = await self.request(path, params=params, request_timeout=request_timeout)
        try:
            return response.json()
        except ValueError as exc:
            raise ApiError("http", f"GET {path}: invalid JSON") from exc

    def _status_error(self, response: httpx.Response, path: str) -> ApiError:
        code = response.status_code
        message = status_message(response)
        if code == 401:
            return ApiError("unauthorized", f"unauthorized (401) for GET {path}: {message}", code)
        if code == 403:
            return ApiError("forbidden", f"forbidden (403): {message}", code)
        return ApiError("http", f"HTTP {code} for GET {path}: {message}", code)

    def _mark_unreachable(self, reason: str) -> None:
        # Answers cached before the failure no longer describe the cluster: drop them, so readers
        # ask again (and learn at once that the apiserver is gone).
        self._cache.clear()
        self.last_failure = time.monotonic()
        if self.unreachable_since is None:
            self.unreachable_since = self.last_failure
        self.unreachable_reason = reason

    def _mark_reachable(self) -> None:
        self.unreachable_since = None
        self.unreachable_reason = ""
        self.last_contact = time.monotonic()

    def unreachable(self, within: float) -> ApiError | None:
        """The last transport failure, if no success came after it and it is at most `within`
        seconds (capped by UNREACHABLE_HOLD) old: dependents report it without a request."""
        if self.unreachable_since is None:
            return None
        if time.monotonic() - self.last_failure > min(within, UNREACHABLE_HOLD):
            return None
        return ApiError("unreachable", self.unreachable_reason)

    async def cached(self, key: str, ttl: float, fetch: Callable[[], Awaitable[Any]]) -> Any:
        """`fetch()`'s value, shared by every caller for `ttl` seconds (failures too, so a
        thousand node checks make one request), with one fetch in flight at a time."""
        entry = self._cache.get(key)
        if entry is not None and time.monotonic() - entry.at < ttl:
            if entry.error is not None:
                raise entry.error
            return entry.value
        task = self._inflight.get(key)
        if task is None:
            task = self._inflight[key] = asyncio.create_task(self._fill(key, fetch), name=f"kube:{key}")
        # shield: one caller's timeout must not cancel the fetch the others wait for
        return await asyncio.shield(task)

    async def _fill(self, key: str, fetch: Callable[[], Awaitable[Any]]) -> Any:
        try:
            value = await fetch()
        except ApiError as exc:
            self._cache[key] = _Entry(time.monotonic(), error=exc)
            raise
        finally:
            self._inflight.pop(key, None)
        self._cache[key] = _Entry(time.monotonic(), value)
        return value

    async def list_items(self, path: str, *, ttl: float, request_timeout: float,
                         params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The `items` of a list request, cached for `ttl` seconds."""
        key = path + ("?" + "&".join(f"{k}={v}" for k, v in sorted(params.items())) if params else "")

        async def fetch() -> list[dict[str, Any]]:
            body = await self.get_json(path, params=params, request_timeout=request_timeout)
            return list(body.get("items") or []) if isinstance(body, dict) else []

        return await self.cached(key, ttl, fetch)


class KubeClients:
    """Every cluster client of one engine, keyed by target; closed with the engine."""

    def __init__(self) -> None:
        self._clients: dict[KubeTarget, ClusterClient] = {}

    def get(self, target: KubeTarget) -> ClusterClient:
        client = self._clients.get(target)
        if client is None:
            client = self._clients[target] = ClusterClient(target)
        return client

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)


CACHE_KEY = "kube"  # ProbeContext.cache[CACHE_KEY]: the engine's KubeClients


def kube_clients(ctx: ProbeContext) -> KubeClients:
    """The engine's cluster clients, made on first use (closed by the engine at stop)."""
    clients = ctx.cache.get(CACHE_KEY)
    if clients is None:
        clients = ctx.cache[CACHE_KEY] = KubeClients()
    return clients


def client_for(ctx: ProbeContext, target: KubeTarget) -> ClusterClient:
    """The engine's client for `target`."""
    return kube_clients(ctx).get(target)


def list_ttl(interval: float) -> float:
    """How long a shared list stays fresh: half the checks' interval, at most 15 s, so checks
    spread over an interval make about two list requests per interval between them."""
    return max(0.5, min(interval / 2, 15.0))


def parse_healthz(text: str) -> dict[str, str]:
    """`[+]name ok` / `[+]name excluded: ok` / `[-]name failed: …` lines → name → `ok`,
    `excluded` or `failed: …` (the kube-apiserver's and etcd's verbose health format)."""
    checks: dict[str, str] = {}
    for line in text.splitlines():
        match = _HEALTHZ_LINE.match(line.strip())
        if match:
            sign, name, excluded, outcome = match.groups()
            checks[name] = "excluded" if excluded else ("ok" if sign == "+" else outcome)
    return checks


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 time (`2024-05-01T10:00:00Z`, MicroTime `…00.123456Z`) → aware datetime."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def age_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds from an RFC 3339 time to now (our clock), None if absent or unreadable."""
    at = parse_time(value)
    if at is None:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return (now if now is not None else time.time()) - at.timestamp()

