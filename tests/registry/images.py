"""Canary images built in memory and pushed through the registry API (as `docker push` does: blob
upload sessions, then the manifest), so the registry tests need no docker and no network."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import ssl
import tarfile
from dataclasses import dataclass, field

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer(files: dict[str, bytes]) -> bytes:
    """A gzipped tar holding `files` (deterministic: fixed mtimes, no gzip timestamp)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(content), 0, 0o644
            tar.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue(), mtime=0)


@dataclass
class Image:
    """An image's blobs and manifest, ready to push; `digest` is the manifest's."""

    config: bytes
    layers: list[bytes]
    oci: bool = True
    manifest: bytes = field(init=False)

    def __post_init__(self) -> None:
        layer_type = OCI_LAYER if self.oci else DOCKER_LAYER
        document = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "config": {"mediaType": OCI_CONFIG if self.oci else DOCKER_CONFIG, "digest": sha256(self.config),
                       "size": len(self.config)},
            "layers": [{"mediaType": layer_type, "digest": sha256(b), "size": len(b)} for b in self.layers],
        }
        self.manifest = json.dumps(document, indent=3).encode()

    @property
    def media_type(self) -> str:
        return OCI_MANIFEST if self.oci else DOCKER_MANIFEST

    @property
    def digest(self) -> str:
        return sha256(self.manifest)


def canary(arch: str = "amd64", *, sizes: tuple[int, ...] = (3000, 200), oci: bool = True) -> Image:
    """A small image for `arch` with layers of about the given sizes (random-looking content so
    that gzip cannot shrink them)."""
    config = json.dumps({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layers = []
    for i, size in enumerate(sizes):
        content = hashlib.shake_256(f"{arch}-{i}-{size}".encode()).digest(size)
        layers.append(layer({f"file{i}": content}))
    return Image(config, layers, oci=oci)


def index(*platforms: tuple[str, Image]) -> bytes:
    """An OCI image index over `(arch, image)` pairs, in that order."""
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": image.media_type, "digest": image.digest, "size": len(image.manifest),
             "platform": {"os": "linux", "architecture": arch}}
            for arch, image in platforms
        ],
    }).encode()


class Pusher:
    """Pushes to a registry at `url` with a fixed Authorization header (or none); `verify` is
    httpx's, for a registry serving HTTPS (its `ready_client["verify"]`)."""

    def __init__(
        self,
        url: str,
        authorization: str | None = None,
        auth: tuple[str, str] | None = None,
        *,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        headers = {"Authorization": authorization} if authorization else {}
        self.client = httpx.Client(base_url=url, headers=headers, auth=auth, timeout=10.0, verify=verify)

    def blob(self, name: str, data: bytes) -> str:
        """POST an upload session, then PUT the whole blob to its Location with `digest=`."""
        digest = sha256(data)
        started = self.client.post(f"/v2/{name}/blobs/uploads/")
        assert started.status_code == 202, started.text
        location = httpx.URL(started.headers["Location"])
        done = self.client.put(
            location.copy_merge_params({"digest": digest}), content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert done.status_code == 201, done.text
        return digest

    def manifest(self, name: str, reference: str, body: bytes, media_type: str) -> str:
        response = self.client.put(f"/v2/{name}/manifests/{reference}", content=body,
                                   headers={"Content-Type": media_type})
        assert response.status_code == 201, response.text
        return response.headers["Docker-Content-Digest"]

    def image(self, name: str, tag: str, image: Image) -> str:
        """Push the image's blobs and its manifest under `tag`; returns the manifest digest."""
        for data in (image.config, *image.layers):
            self.blob(name, data)
        digest = self.manifest(name, tag, image.manifest, image.media_type)
        assert digest == image.digest
        return digest

    def close(self) -> None:
        self.client.close()
