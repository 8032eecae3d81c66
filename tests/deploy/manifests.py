"""Rendering deploy/kubernetes/ as `kubectl apply -k` would, and validating each object against
the Kubernetes API schemas through the official Python client's models, strictly: every field
known to its model, every required field present, every value of its declared type.

The renderer covers the part of kustomize our kustomization.yaml uses (resources, images) and
refuses any other key, so that it can never silently render something else than kustomize."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import kubernetes
import pydantic
import yaml
from kubernetes import client

KUSTOMIZE_KEYS = {"apiVersion", "kind", "resources", "images"}
# kustomize's legacy order (api/resource/ordering in sigs.k8s.io/kustomize), for the kinds we ship
KIND_ORDER = ["Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition", "ServiceAccount",
              "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ConfigMap", "Secret",
              "Endpoints", "Service", "LimitRange", "PriorityClass", "PersistentVolume", "PersistentVolumeClaim",
              "Deployment", "StatefulSet", "CronJob", "PodDisruptionBudget"]
POD_SPEC_PATHS = {"Deployment": ("spec", "template", "spec"), "StatefulSet": ("spec", "template", "spec"),
                  "DaemonSet": ("spec", "template", "spec"), "Job": ("spec", "template", "spec"),
                  "Pod": ("spec",)}


class RenderError(ValueError):
    pass


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def _split_image(image: str) -> tuple[str, str]:
    """`name[:tag][@digest]` → (name, the rest with its separator)."""
    at = image.find("@")
    if at >= 0:
        return image[:at], image[at:]
    colon = image.rfind(":")
    if colon > image.rfind("/"):
        return image[:colon], image[colon:]
    return image, ""


def _set_images(obj: dict[str, Any], images: list[Mapping[str, str]]) -> None:
    path = POD_SPEC_PATHS.get(obj["kind"])
    if path is None:
        return
    spec: Any = obj
    for key in path:
        spec = spec.get(key, {})
    for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
        name, rest = _split_image(container["image"])
        for rule in images:
            if rule["name"] != name:
                continue
            if "digest" in rule:
                rest = "@" + rule["digest"]
            elif "newTag" in rule:
                rest = ":" + str(rule["newTag"])
            container["image"] = rule.get("newName", name) + rest


def render(directory: Path) -> list[dict[str, Any]]:
    """The objects `kubectl apply -k directory` sends, in kustomize's order."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    unknown = set(kustomization) - KUSTOMIZE_KEYS
    if unknown:
        raise RenderError(f"kustomization.yaml uses {sorted(unknown)}: teach tests/deploy/manifests.py first")
    objects: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str | None, str]] = set()
    for resource in kustomization["resources"]:
        for obj in load_documents(directory / resource):
            ident = (obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else "", obj["kind"],
                     obj["metadata"].get("namespace"), obj["metadata"]["name"])
            if ident in seen:  # kustomize: "may not add resource with an already registered id"
                raise RenderError(f"{resource}: {ident} is defined twice")
            seen.add(ident)
            _set_images(obj, kustomization.get("images", []))
            objects.append(obj)
    rank = {kind: i for i, kind in enumerate(KIND_ORDER)}
    return sorted(objects, key=lambda o: (rank.get(o["kind"], len(rank)), o["kind"],
                                          o["metadata"].get("namespace") or "", o["metadata"]["name"]))


# ---------------------------------------------------------------- strict validation against the models
def model_name(api_version: str, kind: str) -> str:
    """`apps/v1`, `Deployment` → `V1Deployment` (the client's class for that kind)."""
    version = api_version.rsplit("/", 1)[-1]
    return version[0].upper() + version[1:] + kind


def _json_names(value: Any, type_name: str, where: str) -> None:
    """Every key spelled as the API spells it: the models also take their Python names
    (`target_port`), which the API server would not know."""
    if match := re.fullmatch(r"[Ll]ist\[(.+)\]", type_name):
        for i, item in enumerate(value if isinstance(value, list) else []):
            _json_names(item, match[1], f"{where}[{i}]")
        return
    if match := re.fullmatch(r"(?:dict\(|Dict\[)([^,]+), (.+)[)\]]", type_name):
        for key, item in (value.items() if isinstance(value, dict) else ()):
            _json_names(item, match[2], f"{where}.{key}")
        return
    cls = getattr(client.models, type_name, None)
    if cls is None or not isinstance(value, dict):
        return  # a primitive, `object` (int-or-string, quantities) or a type error the model reports
    by_json = {json_name: attr for attr, json_name in cls.attribute_map.items()}
    unknown = sorted(set(value) - set(by_json))
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown} for {type_name}")
    for key, item in value.items():
        _json_names(item, cls.openapi_types[by_json[key]], f"{where}.{key}")


def validate(obj: dict[str, Any]) -> Any:
    """`obj` as its V1… model (pydantic: unknown fields refused, types strict, required fields
    required); ValueError when the API server would refuse it for its shape."""
    name = model_name(obj["apiVersion"], obj["kind"])
    cls = getattr(client.models, name, None)
    if cls is None or not issubclass(cls, pydantic.BaseModel):
        raise ValueError(f"no strict model {name} in kubernetes {kubernetes.__version__} (need >= 37)")
    _json_names(obj, name, f"{obj['kind']}/{obj.get('metadata', {}).get('name')}")
    try:
        return cls.model_validate(obj)
    except pydantic.ValidationError as exc:
        raise ValueError(f"{obj['kind']}/{obj.get('metadata', {}).get('name')}: {exc}") from None
