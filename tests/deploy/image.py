"""Building and running the service image here, with no daemon and no image registry: buildah with
chroot isolation, a Debian base made by debootstrap, a wheelhouse made with the base's own Python.
The base and the wheelhouse are cached outside the repository (CACHE_ROOT), keyed by what makes
them; a missing or half-made entry is made again. Knows nothing of what the test asserts."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE_ROOT = Path(os.environ.get("PM_TEST_IMAGE_CACHE", "/var/cache/platform-monitor-test"))
RUN_ROOT = Path("/run/platform-monitor-test/buildah")  # buildah's runtime state: gone at reboot, like its mounts
RELEASE = "bookworm"  # Debian 12: python3 is 3.11.2, the oldest Python the project supports in practice
BASE_PACKAGES = "python3,python3-venv"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
IMAGE = "localhost/platform-monitor:image-test"
# What the image is built from, as the Dockerfile's COPY lines name it (plus the Dockerfile itself).
CONTEXT_FILES = ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md")
CONTEXT_DIRS = ("monitor", "probes", "storage", "dashboards")
WHEEL_COMMAND = 'pip wheel -w wheels ".[postgres,mysql]" "setuptools>=68"'
"""The wheelhouse command of docs/deploy.md, run here with the base's Python (test_docs checks it)."""
COMMAND_TIMEOUT = 600  # seconds for one debootstrap, pip wheel or build


def debian_mirror(release: str = RELEASE) -> str:
    """The Debian mirror apt uses on this machine for `release` (deb822 .sources or one-line lists)."""
    apt = Path("/etc/apt")
    for path in sorted(apt.glob("sources.list.d/*.sources")):
        for stanza in path.read_text(encoding="utf-8").split("\n\n"):
            lines = [line for line in stanza.splitlines() if ":" in line and not line.startswith("#")]
            fields = dict(line.split(":", 1) for line in lines)
            suites = fields.get("Suites", "").split()
            if release in suites and "main" in fields.get("Components", "").split():
                return fields["URIs"].split()[0].strip()
    for path in [apt / "sources.list", *sorted(apt.glob("sources.list.d/*.list"))]:
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            words = [w for w in line.split() if not w.startswith("[")]
            if len(words) >= 4 and words[0] == "deb" and words[2] == release and "main" in words[3:]:
                return words[1]
    return DEFAULT_MIRROR


def run(argv: Sequence[str], log: Path, timeout: float = COMMAND_TIMEOUT, **kw) -> None:
    """Run a command, its output appended to `log`; on failure raise with the log's tail."""
    with log.open("a") as out:
        out.write(f"$ {' '.join(map(str, argv))}\n")
        out.flush()
        done = subprocess.run(list(map(str, argv)), stdout=out, stderr=subprocess.STDOUT, timeout=timeout,
                              check=False, **kw)
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"{argv[0]} {argv[1] if len(argv) > 1 else ''} failed ({done.returncode}):\n{tail}")


@contextlib.contextmanager
def cache_lock() -> Iterator[None]:
    """One test run at a time fills the cache and uses buildah's storage."""
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    with (CACHE_ROOT / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


class Buildah:
    """buildah on a storage of its own under the cache (the machine's own images untouched)."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.base = ["buildah", "--root", str(CACHE_ROOT / "storage"), "--runroot", str(RUN_ROOT)]

    def __call__(self, *args: str, cwd: Path | None = None) -> None:
        run([*self.base, *args], self.log, cwd=cwd)

    def output(self, *args: str) -> str:
        return subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=120,
                              check=True).stdout.strip()

    def has_image(self, name: str) -> bool:
        done = subprocess.run([*self.base, "inspect", "--type", "image", name], capture_output=True, timeout=120,
                              check=False)
        return done.returncode == 0

    def image_config(self, name: str) -> dict:
        return json.loads(self.output("inspect", "--type", "image", name))["OCIv1"]["config"]

    def size(self, name: str) -> str:
        """The image's size as buildah shows it (uncompressed layers, e.g. "527 MB")."""
        return json.loads(self.output("images", "--json", name))[0]["size"]


def base_image(buildah: Buildah, tmp: Path, timings: dict[str, float | str]) -> str:
    """A Debian `RELEASE` minbase with python3 and python3-venv as a local image (debootstrap once)."""
    mirror = debian_mirror()
    key = hashlib.sha256(f"{RELEASE}|{BASE_PACKAGES}|{mirror}".encode()).hexdigest()[:12]
    name = f"localhost/pm-test-base:{RELEASE}-{key}"
    if buildah.has_image(name):
        timings["base_cached"] = 1
        return name
    start = time.monotonic()
    rootfs = tmp / "rootfs"
    run(["debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", RELEASE, rootfs, mirror], buildah.log)
    timings["debootstrap_s"] = round(time.monotonic() - start, 1)
    # No `buildah import` in 1.28: a scratch container, the tree added as one tarball, committed.
    tarball = tmp / "rootfs.tar"
    run(["tar", "-C", rootfs, "--numeric-owner", "-cf", tarball, "."], buildah.log)
    shutil.rmtree(rootfs)
    container = buildah.output("from", "scratch")
    try:
        buildah("add", container, str(tarball), "/")
        buildah("config", "--cmd", "python3", container)
        buildah("commit", "--rm", container, name)
    except Exception:
        subprocess.run([*buildah.base, "rm", container], capture_output=True, check=False)
        raise
    tarball.unlink()
    timings["base_s"] = round(time.monotonic() - start, 1)
    return name


def context(ctx: Path, wheels: Path | None = None) -> Path:
    """A build context in `ctx` holding what the Dockerfile copies; `wheels/` from `wheels` when given."""
    ctx.mkdir(parents=True)
    for name in CONTEXT_FILES:
        shutil.copy2(ROOT / name, ctx / name)
    for name in CONTEXT_DIRS:
        shutil.copytree(ROOT / name, ctx / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (ctx / "wheels").mkdir()
    for wheel in (wheels.glob("*.whl") if wheels else ()):
        os.link(wheel, ctx / "wheels" / wheel.name)
    return ctx


def ca_bundle_mount() -> list[str]:
    """pip in the base trusts what pip here trusts (a TLS-inspecting proxy's CA, say)."""
    bundle = os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt"
    if not Path(bundle).is_file():
        return []
    return ["-v", f"{bundle}:/etc/pm-test-ca.crt:ro", "-e", "PIP_CERT=/etc/pm-test-ca.crt"]


def wheelhouse(buildah: Buildah, base: str, tmp: Path, timings: dict[str, float | str]) -> Path:
    """Wheels of every dependency for the base's own Python (3.11.2 pulls async-timeout for redis,
    which a newer Python would leave out), keyed by pyproject.toml and the base."""
    key = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + base.encode()).hexdigest()[:12]
    wheels = CACHE_ROOT / f"wheels-{RELEASE}-{key}"
    if (wheels / ".complete").exists():
        timings["wheels_cached"] = 1
        return wheels
    start = time.monotonic()
    shutil.rmtree(wheels, ignore_errors=True)
    src = context(tmp / "wheel-src")
    container = buildah.output("from", "--pull-never", base)
    try:
        buildah("run", "--isolation", "chroot", *ca_bundle_mount(), "-v", f"{src}:/src", "--workingdir", "/src",
                container, "--", "sh", "-c", f"python3 -m venv /tmp/pip && /tmp/pip/bin/{WHEEL_COMMAND} -q")
    finally:
        subprocess.run([*buildah.base, "rm", container], capture_output=True, check=False)
    wheels.mkdir(parents=True)
    for wheel in (src / "wheels").glob("*.whl"):
        if not wheel.name.startswith("platform_monitor-"):  # the project itself is built from the context
            shutil.move(wheel, wheels / wheel.name)
    (wheels / ".complete").write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    timings["wheels_s"] = round(time.monotonic() - start, 1)
    return wheels
