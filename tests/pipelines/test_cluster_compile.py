"""The compiled pipeline carries the spec's `cluster:` options (kfp-kubernetes): the LLM key by Secret
reference only, the GPU on the training steps only, and local runs ignore all of it."""

import pytest
import yaml
from agenthpo.components.images import CONTROL_IMAGE, TRAIN_CUDA_IMAGE, TRAIN_IMAGE
from agenthpo.pipelines.study_pipeline import compile_pipeline
from conftest import ROOT, quadratic_spec

from agenthpo.spec import load_spec, parse_spec

SENTINEL = "sk-sentinel-never-in-yaml-4242"
CLUSTER = {
    "gpu": {"count": 2, "accelerator": "nvidia.com/gpu"},
    "node_selector": {"cloud.google.com/gke-accelerator": "nvidia-l4"},
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "llm_secret": {"name": "team-llm", "key": "openai-key"},
    "env": [{"config_map": "agenthpo-config", "key": "MLFLOW_S3_ENDPOINT_URL"}],
    "resources": {"cpu_request": "4", "memory_limit": "16Gi"},
    "data_volume": {"claim": "agenthpo-data", "mount_path": "/data"},
}


def compiled(tmp_path, cluster=None, trials=2, **changes):
    data = yaml.safe_load((ROOT / "examples" / "water-potability.yaml").read_text())
    data.update(changes)
    if cluster is not None:
        data["cluster"] = cluster
    spec = parse_spec(data, base_dir=ROOT / "examples")
    text = compile_pipeline(spec, tmp_path / "pipeline.yaml", trials=trials).read_text()
    docs = list(yaml.safe_load_all(text))
    platform = docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"] if len(docs) > 1 else {}
    return spec, text, docs[0], platform


def executors_of(doc, component: str) -> list[str]:
    """The executor labels of a component's tasks ('train' -> exec-train, exec-train-2, ...)."""
    return sorted(name for name in doc["deploymentSpec"]["executors"]
                  if name == f"exec-{component}" or name.startswith(f"exec-{component}-")
                  and name.removeprefix(f"exec-{component}-").isdigit())


def test_llm_key_is_a_secret_reference_and_never_a_value(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    spec, text, doc, platform = compiled(tmp_path, CLUSTER)
    assert spec.uses_llm and spec.llm.api_key_env == "OPENAI_API_KEY"
    assert SENTINEL not in text
    for component in ("creator", "analyze", "report"):
        for executor in executors_of(doc, component):
            refs = platform[executor]["secretAsEnv"]
            assert {"secretName": "team-llm", "keyToEnv": [{"secretKey": "openai-key", "envVar": "OPENAI_API_KEY"}],
                    "optional": False}.items() <= refs[0].items(), executor
    # Steps that never call the LLM never see its key.
    for executor in executors_of(doc, "train") + executors_of(doc, "open-study"):
        assert "secretAsEnv" not in platform[executor], executor
    # Every step gets the common environment from the ConfigMap, by reference too.
    assert all(p["configMapAsEnv"][0]["configMapName"] == "agenthpo-config" for p in platform.values())


def test_gpu_image_placement_and_resources_on_the_training_steps_only(tmp_path):
    _, _, doc, platform = compiled(tmp_path, CLUSTER, trials=3)
    executors = doc["deploymentSpec"]["executors"]
    trains = executors_of(doc, "train")
    assert len(trains) == 3
    for name, executor in executors.items():
        container = executor["container"]
        if name in trains:
            assert container["image"] == TRAIN_CUDA_IMAGE
            resources = container["resources"]
            assert resources["accelerator"]["resourceType"] == "nvidia.com/gpu"
            assert resources["accelerator"]["resourceCount"] == "2"
            assert resources["resourceCpuRequest"] == "4" and resources["resourceMemoryLimit"] == "16Gi"
            assert platform[name]["nodeSelector"]["labels"] == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
            assert platform[name]["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists",
                                                      "effect": "NoSchedule"}]
            assert platform[name]["pvcMount"][0]["mountPath"] == "/data"
        else:
            assert container["image"] == CONTROL_IMAGE and "resources" not in container, name
            assert "nodeSelector" not in platform[name] and "tolerations" not in platform[name], name
    # The data volume is where the data is read: opening the study (contract, profile) and training.
    assert "pvcMount" in platform["exec-open-study"] and "pvcMount" not in platform["exec-creator"]


def test_parallel_rounds_are_configured_too(tmp_path):
    _, _, doc, platform = compiled(tmp_path, {"gpu": 1}, trials=4, parallel=2)
    trains = executors_of(doc, "train")
    assert trains and all(doc["deploymentSpec"]["executors"][t]["container"]["image"] == TRAIN_CUDA_IMAGE
                          for t in trains)
    assert all(doc["deploymentSpec"]["executors"][t]["container"]["resources"]["accelerator"]["resourceCount"] == "1"
               for t in trains)
    assert all("secretAsEnv" in platform[e] for e in executors_of(doc, "creator"))


def test_without_a_cluster_section_the_pipeline_is_as_before(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    for proposer in ("agent", "random"):
        spec, text, doc, platform = compiled(tmp_path, proposer=proposer)
        assert spec.cluster is None and SENTINEL not in text
        assert platform == {} and "platforms:" not in text
        for executor in doc["deploymentSpec"]["executors"].values():
            assert "resources" not in executor["container"]
        assert {doc["deploymentSpec"]["executors"][t]["container"]["image"]
                for t in executors_of(doc, "train")} == {TRAIN_IMAGE}


def test_an_empty_cluster_section_gives_the_default_key_reference(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    _, text, doc, platform = compiled(tmp_path, {})
    assert SENTINEL not in text
    # An LLM study on a cluster needs its key: the default Secret agenthpo-llm, key named like the variable.
    assert set(platform) == {e for c in ("creator", "analyze", "report") for e in executors_of(doc, c)}
    assert all(p == {"secretAsEnv": [{"keyToEnv": [{"envVar": "OPENAI_API_KEY", "secretKey": "OPENAI_API_KEY"}],
                                      "optional": False, "secretName": "agenthpo-llm",
                                      "secretNameParameter": {"runtimeValue": {"constant": "agenthpo-llm"}}}]}
               for p in platform.values())
    # A study without an LLM has no key to mount: no platform section at all.
    _, text, _, platform = compiled(tmp_path, {}, proposer="random")
    assert platform == {} and "platforms:" not in text


def test_llm_secret_off_for_a_keyless_endpoint(tmp_path):
    _, _, _, platform = compiled(tmp_path, {"llm_secret": False, "gpu": 1})
    assert not any("secretAsEnv" in p for p in platform.values())


def test_gpu_example_compiles_for_the_cuda_image(tmp_path):
    spec = load_spec(ROOT / "examples" / "gpu" / "cifar10.yaml")
    doc = yaml.safe_load_all(compile_pipeline(spec, tmp_path / "p.yaml", trials=1).read_text())
    executors = next(doc)["deploymentSpec"]["executors"]
    assert executors["exec-train"]["container"]["image"] == TRAIN_CUDA_IMAGE
    assert executors["exec-train"]["container"]["resources"]["accelerator"]["resourceCount"] == "1"


@pytest.mark.slow
def test_a_spec_with_a_cluster_section_still_runs_on_the_local_runner(tmp_path, sqlite_uri):
    from agenthpo.pipelines.local import run_local
    from agenthpo.tracking import MlflowStudyStore

    spec = parse_spec(quadratic_spec(sqlite_uri, budget={"trials": 1, "max_failed_trials": 1},
                                     cluster={**CLUSTER, "llm_secret": {"name": "missing-here"}}), base_dir=None)
    run_local(spec, 1, tmp_path / "work", tmp_path / "kfp.log")
    store = MlflowStudyStore(sqlite_uri)
    history = store.history(store.find_study("quadratic"))
    assert [(t.number, t.state.value) for t in history] == [(1, "FINISHED")]


def test_a_trial_timeout_gives_training_pods_a_deadline_and_no_other_pod(tmp_path):
    from agenthpo.pipelines.platform import POD_DEADLINE_GRACE_SECONDS

    data = yaml.safe_load((ROOT / "examples" / "water-potability.yaml").read_text())
    spec, text, doc, platform = compiled(tmp_path, CLUSTER, budget={**data["budget"], "trial_timeout": 100.5})
    deadlines = {name: config.get("activeDeadlineSeconds") for name, config in platform.items()}
    train = executors_of(doc, "train")
    assert train and all(int(deadlines[name]) == 101 + POD_DEADLINE_GRACE_SECONDS for name in train)
    assert all(deadline is None for name, deadline in deadlines.items() if name not in train)


def test_a_compiled_pipeline_has_a_documented_trial_limit(tmp_path):
    from agenthpo.limits import MAX_COMPILED_TRIALS

    with pytest.raises(ValueError, match=rf"trials={MAX_COMPILED_TRIALS + 1} must be in \[1, {MAX_COMPILED_TRIALS}\]"):
        compiled(tmp_path, trials=MAX_COMPILED_TRIALS + 1)
