"""Downloading one blob the way a pulling client does, for the registry probe: redirects followed
(at most a few) without forwarding credentials to another host, the body streamed, hashed, capped
and timed. Reports what happened; judging it is the probe's business."""

from __future__ import annotations

import time
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import httpx

from probes import oci

__all__ = ["MAX_BLOB_REDIRECTS", "BlobError", "BlobPull", "download_blob", "same_origin"]

MAX_BLOB_REDIRECTS = 5  # object stores redirect once; more is a loop or a misconfiguration
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_ERROR_BODY_BYTES = 64 * 1024


@dataclass(slots=True)
class BlobPull:
    """A verified download."""

    digest: str
    role: str  # "layer" or "config"
    size: int
    seconds: float
    redirects: int
    final_host: str

    def details(self) -> dict[str, Any]:
        rate = self.size / self.seconds if self.seconds > 0 else None
        return {
            "digest": self.digest,
            "role": self.role,
            "bytes": self.size,
            "seconds": round(self.seconds, 6),
            "bytes_per_second": round(rate, 1) if rate is not None else None,
            "redirects": self.redirects,
            "host": self.final_host,
        }


class BlobError(Exception):
    """Why a blob could not be pulled, in words for a reason."""


def same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    """Same scheme, host and port: the only place our credentials may go."""
    return (a.scheme, a.host, a.port or _default_port(a)) == (b.scheme, b.host, b.port or _default_port(b))


def _default_port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80


async def download_blob(
    client: httpx.AsyncClient,
    url: str,
    descriptor: oci.Descriptor,
    *,
    authorization: str | None,
    max_bytes: int,
    request_timeout: float,
) -> BlobPull:
    """GET the blob at `url` (the registry's `/v2/<name>/blobs/<digest>`), following redirects
    and sending `authorization` only to the registry's own origin; read at most `max_bytes`,
    check the size and the digest. Raises BlobError for the blob's faults, httpx.HTTPError for
    the transport's."""
    origin = httpx.URL(url)
    hasher = oci.hasher_for(descriptor.digest)
    started = time.perf_counter()
    request_url = origin
    for redirects in range(MAX_BLOB_REDIRECTS + 1):
        headers = {"Authorization": authorization} if authorization and same_origin(request_url, origin) else {}
        request = client.build_request("GET", request_url, headers=headers, timeout=request_timeout)
        response = await client.send(request, stream=True, follow_redirects=False)
        try:
            location = response.headers.get("Location")
            if response.status_code in _REDIRECTS and location:
                try:
                    request_url = response.url.join(location)
                except httpx.InvalidURL as exc:
                    raise BlobError(f"redirect to an invalid URL {location!r}: {exc}") from None
                continue
            if response.status_code != 200:
                body, _ = await _read(response, _ERROR_BODY_BYTES, None)
                errors = oci.describe_errors(oci.parse_errors(body))
                where = "" if same_origin(response.url, origin) else f" from {response.url.host}"
                raise BlobError(f"HTTP {response.status_code}{where}" + (f" {errors}" if errors else ""))
            _, size = await _read(response, max_bytes + 1, hasher, keep=False)
        finally:
            await response.aclose()
        seconds = time.perf_counter() - started
        if size > max_bytes:
            raise BlobError(f"larger than max_blob_bytes ({max_bytes}), stopped there")
        if size != descriptor.size:
            raise BlobError(f"{size} bytes received, the manifest says {descriptor.size}")
        if hasher is not None:
            actual = f"{descriptor.digest.split(':', 1)[0]}:{hasher.hexdigest()}"
            if actual != descriptor.digest:
                raise BlobError(f"content does not match its digest (got {actual})")
        return BlobPull(descriptor.digest, descriptor.role, size, seconds, redirects, str(response.url.host))
    raise BlobError(f"more than {MAX_BLOB_REDIRECTS} redirects")


async def _read(response: httpx.Response, cap: int, hasher: Any | None, *, keep: bool = True) -> tuple[bytes, int]:
    """Read up to `cap` bytes (Content-Encoding undone: the digest is over the blob itself),
    feeding `hasher`; returns what was kept (nothing with `keep=False`) and the count."""
    kept = bytearray()
    count = 0
    async with aclosing(response.aiter_bytes()) as chunks:
        async for chunk in chunks:
            chunk = chunk[: cap - count]
            count += len(chunk)
            if hasher is not None:
                hasher.update(chunk)
            if keep:
                kept += chunk
            if count >= cap:
                break
    return bytes(kept), count
