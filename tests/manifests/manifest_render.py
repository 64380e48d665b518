"""Rendering the kustomizations and reading their objects: what the manifest tests share."""

from __future__ import annotations

import base64
import functools
import os
import re
import shutil
import subprocess

import pytest
import yaml
from conftest import ROOT

MANIFESTS = ROOT / "manifests"
NAMESPACE = "agenthpo"
# The kubectl here (1.32) and the newest schemas kubernetes-validate ships: the manifests use nothing
# that is new or deprecated across that range.
KUBERNETES_VERSIONS = ("1.32.0", "1.37.0")
OVERLAYS = sorted(p.parent.relative_to(MANIFESTS).as_posix()
                  for p in (MANIFESTS / "overlays").glob("*/kustomization.yaml"))
# Everything `kubectl kustomize` can build on its own (components/ are only parts of overlays).
KUSTOMIZATIONS = ["base", "schedules", *OVERLAYS]
# Overlays that carry no Secret values: only dev generates its (public) development Secrets.
WITHOUT_SECRETS = [k for k in KUSTOMIZATIONS if k != "overlays/dev"]
SECRETS = {"agenthpo-postgres", "agenthpo-s3", "agenthpo-llm"}
WORKLOADS = ("Deployment", "StatefulSet", "Job", "CronJob", "DaemonSet")
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass"}


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        why = "kubectl is not installed; the manifests are rendered with `kubectl kustomize`"
        if os.environ.get("CI"):
            pytest.fail(f"{why}: CI must install it")
        pytest.skip(why)
    return found


@functools.cache
def _render(kustomization: str) -> tuple[dict, ...]:
    done = subprocess.run([kubectl(), "kustomize", str(MANIFESTS / kustomization)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"kubectl kustomize manifests/{kustomization} failed:\n{done.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


def render(kustomization: str) -> list[dict]:
    kubectl()  # skip or fail before the cache remembers anything
    return list(_render(kustomization))


def named(docs: list[dict], kind: str, name: str) -> dict:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def of_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def pod_spec(doc: dict) -> dict:
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return doc["spec"]["template"]["spec"]


def workloads(docs: list[dict]) -> list[dict]:
    return [d for d in docs if d["kind"] in WORKLOADS]


def containers(doc: dict) -> list[dict]:
    spec = pod_spec(doc)
    return spec.get("initContainers", []) + spec["containers"]


def container(doc: dict, name: str) -> dict:
    (found,) = [c for c in containers(doc) if c["name"] == name]
    return found


def secret_data(secret: dict) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()} | \
        dict(secret.get("stringData") or {})


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) references in command, args and env values."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), text)


def resolve_env(box: dict, docs: list[dict]) -> dict[str, str]:
    """A container's environment as the kubelet builds it; a Secret that is not in the build (created with
    kubectl) reads as `<secret NAME/KEY>`."""
    def config_map(name):
        return named(docs, "ConfigMap", name)["data"]

    def secret(name):
        found = [d for d in of_kind(docs, "Secret") if d["metadata"]["name"] == name]
        return secret_data(found[0]) if found else None

    env: dict[str, str] = {}
    for source in box.get("envFrom", []):
        if "configMapRef" in source:
            env.update(config_map(source["configMapRef"]["name"]))
        else:
            env.update(secret(source["secretRef"]["name"]) or {})
    for item in box.get("env", []):
        if "value" in item:
            env[item["name"]] = expand(item["value"], env)
            continue
        ref = item["valueFrom"]
        if "configMapKeyRef" in ref:
            data = config_map(ref["configMapKeyRef"]["name"])
            assert ref["configMapKeyRef"]["key"] in data, f"{item['name']}: {ref} names a missing key"
            env[item["name"]] = data[ref["configMapKeyRef"]["key"]]
        elif "secretKeyRef" in ref:
            name, key = ref["secretKeyRef"]["name"], ref["secretKeyRef"]["key"]
            data = secret(name)
            env[item["name"]] = f"<secret {name}/{key}>" if data is None else data[key]
        else:
            env[item["name"]] = f"<{next(iter(ref))}>"
    return env
