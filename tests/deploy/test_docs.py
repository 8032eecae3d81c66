"""Every command of docs/deploy.md and of the README's "Deploy to Kubernetes" section is checked
against what it acts on (issue 14, item 10): a build names the Dockerfile's ARGs and the context,
the wheelhouse command is the one test_image.py runs, the image set is the kustomization's, the
Secret and the objects named are those the manifests create, the probe path is the readiness
probe's. A documented command with no check here fails the test."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from sqlalchemy import make_url

from tests.deploy.image import WHEEL_COMMAND
from tests.deploy.manifests import render, validate
from tests.peers import require_peer

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
DOC = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def readme_section() -> str:
    start = README.index("## Deploy to Kubernetes")
    end = README.find("\n## ", start + 1)
    return README[start:end if end > 0 else None]


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def commands(text: str) -> list[list[str]]:
    """Each simple command of the sh blocks, split as the shell would (`&&` chains split, a
    trailing `&` and comments dropped)."""
    out = []
    for block in blocks(text, "sh"):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and words[-1] == "&":
                words = words[:-1]
            current: list[str] = []
            for word in [*words, "&&"]:
                if word == "&&":
                    if current:
                        out.append(current)
                    current = []
                else:
                    current.append(word)
    return out


def objects() -> dict[tuple[str, str], dict]:
    return {(o["kind"], o["metadata"]["name"]): o for o in render(DEPLOY)}


def deployment() -> dict:
    return objects()[("Deployment", "platform-monitor")]


def options(argv: list[str], with_value: set[str]) -> tuple[dict[str, list[str]], list[str]]:
    """argv's options (those in `with_value` take the next word, or `--x=value`) and operands."""
    found: dict[str, list[str]] = {}
    operands = []
    words = iter(argv)
    for word in words:
        if word.startswith("-"):
            name, eq, value = word.partition("=")
            if name in with_value and not eq:
                value = next(words)
            found.setdefault(name, []).append(value)
        else:
            operands.append(word)
    return found, operands


class Checker:
    """One check per kind of documented command; `cwd` follows `cd`."""

    def __init__(self) -> None:
        self.cwd = ROOT
        self.image: str | None = None
        self.dockerfile_args = set(re.findall(r"^ARG (\w+)", (ROOT / "Dockerfile").read_text(), flags=re.M))

    def check(self, argv: list[str]) -> str:
        head = argv[0]
        if re.fullmatch(r"IMAGE=.+", head) and len(argv) == 1:
            return self.assign(head.split("=", 1)[1])
        method = {"docker": self.docker, "podman": self.docker, "buildah": self.docker, "cd": self.cd,
                  "kustomize": self.kustomize, "kubectl": self.kubectl, "curl": self.curl}.get(head)
        if method is None:
            raise AssertionError(f"no check for the documented command {shlex.join(argv)}")
        return method(argv)

    def assign(self, image: str) -> str:
        name, _, tag = image.rpartition(":")
        assert "/" in name and name.endswith("/platform-monitor") and tag == VERSION, image  # REGISTRY/…:VERSION
        self.image = image
        return "image"

    def cd(self, argv: list[str]) -> str:
        self.cwd = (self.cwd / argv[1]).resolve()
        assert self.cwd.is_dir() and self.cwd.is_relative_to(ROOT), argv
        return "cd"

    def docker(self, argv: list[str]) -> str:
        tool, verb = argv[0], argv[1]
        if verb == "push":
            assert argv[2:] == ["$IMAGE"] and self.image, argv
            return "push"
        if verb == "run":
            return self.wheelhouse(argv)
        assert (tool, verb) in {("docker", "build"), ("podman", "build"), ("buildah", "bud")}, argv
        found, operands = options(argv[2:], {"-t", "--build-arg", "-f", "--isolation"})
        assert operands == ["."] and self.cwd == ROOT, argv  # the context: the repository
        assert found.pop("-t") == ["$IMAGE"] and self.image, argv
        assert found.pop("-f", ["Dockerfile"]) == ["Dockerfile"], argv
        for arg in found.pop("--build-arg", []):
            assert arg.split("=", 1)[0] in self.dockerfile_args, f"{arg}: no such ARG in the Dockerfile"
        assert set(found) <= {"--isolation", "--layers"}, argv
        return "build"

    def wheelhouse(self, argv: list[str]) -> str:
        # the base image's Python makes the wheels; the pip command is the one test_image.py runs
        line = shlex.join(argv)
        base = re.search(r"^ARG BASE_IMAGE=(\S+)", (ROOT / "Dockerfile").read_text(), flags=re.M)[1]
        assert base in argv and "/src" in argv[argv.index("-w") + 1], argv
        assert shlex.join(shlex.split(WHEEL_COMMAND)) in line, (line, WHEEL_COMMAND)
        assert "wheels" in (ROOT / "Dockerfile").read_text() and (ROOT / "wheels").is_dir()
        return "wheels"

    def kustomize(self, argv: list[str]) -> str:
        assert argv[1:4] == ["edit", "set", "image"] and (self.cwd / "kustomization.yaml").exists(), argv
        name, _, value = argv[4].partition("=")
        assert value == "$IMAGE" and self.image, argv
        kustomization = yaml.safe_load((self.cwd / "kustomization.yaml").read_text())
        assert name in [rule["name"] for rule in kustomization["images"]], argv
        return "set image"

    def kubectl(self, argv: list[str]) -> str:
        found, operands = options(argv[1:], {"-n", "-k", "-f"})
        namespace = found.pop("-n", [None])[0]
        if namespace is not None:
            assert ("Namespace", namespace) in objects(), argv
        verb = operands[0]
        if verb == "apply":
            if "-k" in found:
                path = ROOT / found["-k"][0]
                assert path == DEPLOY and (path / "kustomization.yaml").exists(), argv
                for obj in render(path):
                    validate(obj)
            else:
                for obj in (d for d in yaml.safe_load_all((ROOT / found["-f"][0]).read_text()) if d):
                    validate(obj)
            return "apply"
        if operands[:2] == ["create", "namespace"]:
            assert ("Namespace", operands[2]) in objects(), argv
            return "namespace"
        if operands[:3] == ["create", "secret", "generic"]:
            return self.secret(namespace, operands[3], found)
        if verb == "rollout":
            kind, _, name = operands[2].partition("/")
            assert operands[1] == "status" and kind == "deployment" and ("Deployment", name) in objects(), argv
            return "rollout"
        if verb == "port-forward":
            kind, _, name = operands[1].partition("/")
            local, _, remote = operands[2].partition(":")
            service = objects()[("Service", name)]
            assert kind == "service" and service["metadata"]["namespace"] == namespace, argv
            assert int(remote) in [p["port"] for p in service["spec"]["ports"]] and local == "8080", argv
            return "port-forward"
        raise AssertionError(f"no check for the documented command {shlex.join(argv)}")

    def secret(self, namespace: str | None, name: str, found: dict[str, list[str]]) -> str:
        [container] = deployment()["spec"]["template"]["spec"]["containers"]
        assert {"secretRef": {"name": name}} in container["envFrom"]  # required: the pods wait for it
        assert namespace == deployment()["metadata"]["namespace"]
        config = objects()[("ConfigMap", "platform-monitor-config")]["data"]["config.yaml"]
        data = dict(literal.split("=", 1) for literal in found["--from-literal"])
        for key in data:
            assert "${" + key in config, f"the config does not read {key}"
        # every ${VAR} the config needs (no :- default) comes from this Secret or the pod's own env
        pod_env = {var["name"] for var in container.get("env", [])}
        needed = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", config))
        assert needed <= set(data) | pod_env, needed - set(data) - pod_env
        assert make_url(data["PM_STORAGE_URL"]).get_backend_name() in ("postgresql", "mysql")
        validate({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
                  "type": "Opaque", "stringData": data})
        return "secret"

    def curl(self, argv: list[str]) -> str:
        found, [url] = options(argv[1:], set())
        probe = deployment()["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"]
        assert url == f"http://127.0.0.1:8080{probe}" and found.get("-fsS") == [""], argv
        return "readyz"


def check_all(text: str) -> list[str]:
    checker = Checker()
    return [checker.check(argv) for argv in commands(text)]


def test_every_deploy_doc_command_is_checked():
    done = check_all(DOC)
    assert {"image", "build", "wheels", "push", "set image", "namespace", "secret", "apply", "rollout",
            "port-forward", "readyz"} <= set(done), done


def test_the_readme_section_gives_the_essential_commands_and_points_to_the_doc():
    section = readme_section()
    assert "docs/deploy.md" in section
    done = check_all(section)
    lines = [line for block in blocks(section, "sh") for line in block.splitlines() if line.strip()]
    assert 3 <= len(lines) <= 5 and {"build", "push", "set image", "apply"} <= set(done), done
    assert "[docs/deploy.md](docs/deploy.md)" in README


def test_the_offline_build_is_the_one_the_image_test_runs():
    # test_image.py: buildah bud --isolation chroot --build-arg BASE_IMAGE=<its base> -f Dockerfile -t … .
    [line] = [c for c in commands(DOC) if c[:2] == ["buildah", "bud"] and "--isolation" in c]
    found, _ = options(line[2:], {"-t", "--build-arg", "-f", "--isolation"})
    assert found["--isolation"] == ["chroot"] and found["-f"] == ["Dockerfile"]
    assert [a.split("=")[0] for a in found["--build-arg"]] == ["BASE_IMAGE"]
    source = (ROOT / "tests" / "deploy" / "test_image.py").read_text()
    assert '"bud", "--isolation", "chroot", "--layers"' in source and '"--build-arg", f"BASE_IMAGE={base}"' in source


def test_the_scrape_config_reaches_every_pod(tmp_path):
    """Each replica exports only the checks it holds: Prometheus must scrape every pod, not the
    Service (one pod at random)."""
    [block] = blocks(DOC, "yaml")
    [job] = yaml.safe_load(block)["scrape_configs"]
    [sd] = job["dns_sd_configs"]
    [name] = sd["names"]
    service = objects()[("Service", name.split(".")[0])]
    assert name == f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc"
    assert service["spec"]["clusterIP"] == "None" and sd["type"] == "A"  # headless: one address per pod
    deploy = deployment()
    assert service["spec"]["selector"] == deploy["spec"]["template"]["metadata"]["labels"]
    [container] = deploy["spec"]["template"]["spec"]["containers"]
    assert sd["port"] == container["ports"][0]["containerPort"] and job["metrics_path"] == "/metrics"
    annotations = deploy["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": str(sd["port"])}
    promtool = require_peer("promtool", "checks the documented scrape config")
    (tmp_path / "prometheus.yml").write_text(block)
    done = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_an_unchecked_command_fails():
    with pytest.raises(AssertionError, match="no check"):
        check_all("```sh\nkubectl delete namespace platform-monitor\n```\n")
    with pytest.raises(AssertionError, match="no check"):
        check_all("```sh\nhelm install platform-monitor .\n```\n")
    assert shutil.which("sh")
