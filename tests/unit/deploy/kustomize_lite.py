"""Render a kustomization offline, without the kustomize binary: just the features our
overlays use. Any other kustomization key is an error, so a new feature in an overlay cannot be
silently ignored by the tests; teach this module the feature first.

Supported: ``resources`` (files and directories), ``namespace``, ``labels`` (without
selectors), ``images``, ``patches`` (strategic merge from ``path`` or ``patch``, JSON 6902 with
a ``target``), ``secretGenerator`` with ``literals`` and ``generatorOptions`` that disable the
name hash (so references need no rewriting).
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]

SUPPORTED_KEYS = frozenset(
    {
        "apiVersion",
        "kind",
        "resources",
        "namespace",
        "labels",
        "images",
        "patches",
        "secretGenerator",
        "generatorOptions",
    }
)
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Job"})


class KustomizeError(ValueError):
    """The kustomization uses something this renderer does not do, or does it wrongly."""


def load_yaml_documents(path: Path) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def render(directory: Path) -> list[Obj]:
    """The objects ``kustomize build directory`` would produce (for the supported subset)."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - SUPPORTED_KEYS
    if unknown:
        raise KustomizeError(f"{directory}: unsupported kustomization keys {sorted(unknown)}")
    objects: list[Obj] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        objects += render(path) if path.is_dir() else load_yaml_documents(path)
    objects += _generate_secrets(kustomization)
    for patch in kustomization.get("patches", []):
        _apply_patch(objects, patch, directory)
    for label_set in kustomization.get("labels", []):
        _apply_labels(objects, label_set)
    for image in kustomization.get("images", []):
        _apply_image(objects, image)
    if "namespace" in kustomization:
        for obj in objects:
            obj.setdefault("metadata", {})["namespace"] = kustomization["namespace"]
    return objects


def _generate_secrets(kustomization: Obj) -> list[Obj]:
    generators = kustomization.get("secretGenerator", [])
    if generators and not kustomization.get("generatorOptions", {}).get("disableNameSuffixHash"):
        raise KustomizeError("secretGenerator needs generatorOptions.disableNameSuffixHash")
    secrets = []
    for generator in generators:
        if set(generator) - {"name", "literals", "type"}:
            raise KustomizeError(f"unsupported secretGenerator fields in {generator}")
        data = {}
        for literal in generator.get("literals", []):
            key, _, value = literal.partition("=")
            data[key] = base64.b64encode(value.encode()).decode()
        secrets.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": generator["name"]},
                "type": generator.get("type", "Opaque"),
                "data": data,
            }
        )
    return secrets


def _apply_labels(objects: list[Obj], label_set: Obj) -> None:
    if label_set.get("includeSelectors"):
        raise KustomizeError("labels with includeSelectors are not supported")
    pairs = label_set["pairs"]
    for obj in objects:
        obj.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)
        if label_set.get("includeTemplates") and obj["kind"] in WORKLOAD_KINDS:
            template = obj["spec"]["template"].setdefault("metadata", {})
            template.setdefault("labels", {}).update(pairs)


def _apply_image(objects: list[Obj], image: Obj) -> None:
    if "digest" in image:
        raise KustomizeError("image digests are not supported")
    matched = False
    for obj in objects:
        if obj["kind"] not in WORKLOAD_KINDS:
            continue
        pod = obj["spec"]["template"]["spec"]
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            name, tag = _split_image(container["image"])
            if name != image["name"]:
                continue
            matched = True
            new_tag = image.get("newTag", tag)
            new_name = image.get("newName", name)
            container["image"] = f"{new_name}:{new_tag}" if new_tag else new_name
    if not matched:
        raise KustomizeError(f"image {image['name']} is used by no container")


def _split_image(reference: str) -> tuple[str, str | None]:
    last = reference.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = reference.rsplit(":", 1)
        return name, tag
    return reference, None


def _apply_patch(objects: list[Obj], patch: Obj, directory: Path) -> None:
    if set(patch) - {"path", "patch", "target"}:
        raise KustomizeError(f"unsupported patch fields in {patch}")
    text = (directory / patch["path"]).read_text() if "path" in patch else patch["patch"]
    documents = [doc for doc in yaml.safe_load_all(text) if doc]
    if len(documents) == 1 and isinstance(documents[0], list):
        if "target" not in patch:
            raise KustomizeError("a JSON 6902 patch needs a target")
        target = _find(objects, patch["target"])
        for operation in documents[0]:
            _json6902(target, operation)
        return
    for document in documents:
        selector = patch.get("target") or {
            "kind": document["kind"],
            "name": document["metadata"]["name"],
        }
        _strategic_merge(_find(objects, selector), document)


def _find(objects: list[Obj], target: Obj) -> Obj:
    if set(target) - {"group", "version", "kind", "name"}:
        raise KustomizeError(f"unsupported patch target fields in {target}")
    matches = []
    for obj in objects:
        group, _, version = obj["apiVersion"].rpartition("/")
        if (
            obj["kind"] == target["kind"]
            and obj["metadata"]["name"] == target["name"]
            and target.get("group", group) == group
            and target.get("version", version) == version
        ):
            matches.append(obj)
    if len(matches) != 1:
        raise KustomizeError(f"patch target {target} matches {len(matches)} objects")
    return matches[0]


def _strategic_merge(base: Obj, patch: Obj) -> None:
    """Maps merge key by key; lists of maps with a ``name`` merge item by name (containers,
    env, volumes, ports); any other list is replaced, as kustomize does without a merge key."""
    for key, value in patch.items():
        current = base.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            _strategic_merge(current, value)
        elif _named_list(value) and _named_list(current):
            by_name = {item["name"]: item for item in current}
            for item in value:
                if item["name"] in by_name:
                    _strategic_merge(by_name[item["name"]], item)
                else:
                    current.append(copy.deepcopy(item))
        else:
            base[key] = copy.deepcopy(value)


def _named_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(i, dict) and "name" in i for i in value)


def _json6902(target: Obj, operation: Obj) -> None:
    op = operation["op"]
    if op not in ("add", "replace", "remove"):
        raise KustomizeError(f"unsupported JSON 6902 op {op}")
    parts = [p.replace("~1", "/").replace("~0", "~") for p in operation["path"].split("/")[1:]]
    parent: Any = target
    for part in parts[:-1]:
        parent = parent[int(part)] if isinstance(parent, list) else parent[part]
    last = parts[-1]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if op == "add":
            parent.insert(index, copy.deepcopy(operation["value"]))
        elif op == "replace":
            parent[index] = copy.deepcopy(operation["value"])
        else:
            del parent[index]
        return
    if op in ("replace", "remove") and last not in parent:
        raise KustomizeError(f"JSON 6902 {op} of a missing path {operation['path']}")
    if op == "remove":
        del parent[last]
    else:
        parent[last] = copy.deepcopy(operation["value"])
