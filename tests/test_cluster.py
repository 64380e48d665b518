"""The spec's `cluster:` section: parsed, validated (errors name the field path and the value), round-tripped."""

import pytest
import yaml
from conftest import ROOT

from agenthpo.cluster import ClusterOptions, Gpu, LlmSecret, kfp_cron
from agenthpo.errors import FieldError, join_path
from agenthpo.spec import load_spec, parse_spec

FULL = yaml.safe_load("""
gpu: {count: 2, accelerator: nvidia.com/gpu}
node_selector: {cloud.google.com/gke-accelerator: nvidia-l4}
tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule},
              {key: spot, value: "true", effect: NoExecute, toleration_seconds: 60}]
llm_secret: {name: team-llm, key: openai}
env: [{config_map: agenthpo-config, key: MLFLOW_S3_ENDPOINT_URL},
      {secret: mlflow-s3, key: access-key, env: AWS_ACCESS_KEY_ID, optional: true}]
resources: {cpu_request: 4, cpu_limit: 8, memory_request: 8Gi, memory_limit: 16Gi}
data_volume: {claim: agenthpo-data, mount_path: /data}
service_account: agenthpo-pipeline
""")


def base(**changes) -> dict:
    data = yaml.safe_load((ROOT / "examples" / "water-potability.yaml").read_text())
    data.update(changes)
    return data


def test_full_section_parses_and_round_trips_through_the_spec():
    spec = parse_spec(base(cluster=FULL), base_dir=None)
    options = spec.cluster
    assert options.gpu == Gpu(2, "nvidia.com/gpu")
    assert options.node_selector == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    assert [t.operator for t in options.tolerations] == ["Exists", "Equal"]
    assert options.tolerations[1].toleration_seconds == 60
    assert options.llm_secret == LlmSecret("team-llm", "openai")
    assert [(e.source, e.name, e.env_name) for e in options.env] == [
        ("config_map", "agenthpo-config", "MLFLOW_S3_ENDPOINT_URL"), ("secret", "mlflow-s3", "AWS_ACCESS_KEY_ID")]
    assert options.resources.cpu_request == "4" and options.resources.memory_limit == "16Gi"
    assert options.data_volume.mount_path == "/data" and options.service_account == "agenthpo-pipeline"
    assert parse_spec(spec.to_json(), base_dir=None) == spec
    assert ClusterOptions.from_json(options.to_json()) == options


def test_absent_section_means_the_defaults():
    spec = parse_spec(base(), base_dir=None)
    assert spec.cluster is None and spec.to_json()["cluster"] is None
    defaults = ClusterOptions.from_json({})
    assert defaults == ClusterOptions() and defaults.gpu is None
    # The key's Secret defaults to agenthpo-llm, its key named like the spec's llm.api_key_env.
    assert defaults.llm_secret.name == "agenthpo-llm"
    assert defaults.llm_secret.key_for("OPENAI_API_KEY") == "OPENAI_API_KEY"
    assert ClusterOptions.from_json({"llm_secret": False}).llm_secret is None
    assert ClusterOptions.from_json({"gpu": 1}).gpu == Gpu(1)
    assert ClusterOptions.from_json({"tolerations": None, "env": None, "node_selector": None}) == ClusterOptions()


@pytest.mark.parametrize("section, path, shown", [
    ({"gpu": {"count": 0}}, "cluster.gpu.count", "0 must be an integer >= 1"),
    ({"gpu": {"count": "two"}}, "cluster.gpu.count", "'two'"),
    ({"gpu": {"count": 1, "type": "l4"}}, "cluster.gpu.type", "unknown field"),
    ({"gpu": {"accelerator": "NVIDIA L4"}}, "cluster.gpu.accelerator", "'NVIDIA L4'"),
    ({"tolerations": [{"key": "a", "operator": "Maybe"}]}, "cluster.tolerations[0].operator", "'Maybe'"),
    ({"tolerations": [{"operator": "Equal", "value": "x"}]}, "cluster.tolerations[0].key", "unless operator is Exists"),
    ({"tolerations": [{"key": "a", "effect": "NoRun"}]}, "cluster.tolerations[0].effect", "'NoRun'"),
    ({"tolerations": [{"key": "a", "toleration_seconds": 5}]}, "cluster.tolerations[0].toleration_seconds",
     "needs effect NoExecute"),
    ({"tolerations": {"key": "a"}}, "cluster.tolerations", "must be a list"),
    ({"node_selector": {"gpu": True}}, "cluster.node_selector.gpu", "True must be a label value"),
    ({"node_selector": {"bad key!": "x"}}, "cluster.node_selector.bad key!", "is not a label key"),
    ({"llm_secret": {"name": "Team_LLM"}}, "cluster.llm_secret.name", "'Team_LLM'"),
    ({"llm_secret": {"name": "llm", "value": "sk-123"}}, "cluster.llm_secret.value", "unknown field"),
    ({"env": [{"key": "A"}]}, "cluster.env[0]", "exactly one of config_map or secret"),
    ({"env": [{"secret": "s", "key": "a-b"}]}, "cluster.env[0].env", "'a-b' must be an environment variable name"),
    ({"env": [{"config_map": "c"}]}, "cluster.env[0].key", "is required"),
    ({"resources": {"memory_limit": "16GB"}}, "cluster.resources.memory_limit", "'16GB'"),
    ({"resources": {"cpu_request": "four"}}, "cluster.resources.cpu_request", "'four'"),
    ({"data_volume": {"mount_path": "/data"}}, "cluster.data_volume.claim", "is required"),
    ({"data_volume": {"claim": "d", "mount_path": "data"}}, "cluster.data_volume.mount_path", "'data'"),
    ({"service_account": "Pipeline Runner"}, "cluster.service_account", "'Pipeline Runner'"),
    ({"gpus": 1}, "cluster.gpus", "unknown field"),
    ([1], "cluster", "[1] must be a mapping"),
])
def test_errors_name_the_field_and_the_value(section, path, shown):
    with pytest.raises(FieldError) as raised:
        ClusterOptions.from_json(section)
    # The section's own paths are relative to it; the spec puts `cluster.` in front.
    assert join_path("cluster", raised.value.path) == path and shown in raised.value.message, str(raised.value)
    # Through the spec loader the message carries the file, the field path and the value.
    with pytest.raises(FieldError) as raised_in_spec:
        parse_spec(base(cluster=section), base_dir=None, source="spec.yaml")
    assert str(raised_in_spec.value) == f"spec.yaml: {path}: {raised.value.message}"


def test_gpu_examples_ask_for_one_gpu():
    for path in sorted((ROOT / "examples" / "gpu").glob("*.yaml")):
        assert load_spec(path).cluster.gpu == Gpu(1), path.name


@pytest.mark.parametrize("given, kfp", [
    ("0 3 * * *", "0 0 3 * * *"),
    ("*/15 * * * *", "0 */15 * * * *"),
    ("30 2 * * MON-FRI", "0 30 2 * * MON-FRI"),
    ("0 0 1,15 * *", "0 0 0 1,15 * *"),
    ("0 0 9 ? * 2-6", "0 0 9 ? * 2-6"),  # already KFP's 6 fields
])
def test_cron_becomes_kfp_six_fields(given, kfp):
    assert kfp_cron(given) == kfp


@pytest.mark.parametrize("given, reason", [
    ("61 * * * *", "minute field '61' is outside 0-59"),
    ("0 24 * * *", "hour field '24' is outside 0-23"),
    ("0 0 0 * *", "day-of-month field '0' is outside 1-31"),
    ("0 0 * * 7", "day-of-week field '7' is outside 0-6"),
    ("5-1 * * * *", "start is after its end"),
    ("*/0 * * * *", "step that is not an integer >= 1"),
    ("0 3 * *", "must have 5 fields"),
    ("@daily", "must have 5 fields"),
])
def test_bad_cron_says_which_field(given, reason):
    with pytest.raises(ValueError, match=reason) as raised:
        kfp_cron(given)
    assert repr(given) in str(raised.value)


@pytest.mark.parametrize("section, path, hint", [
    ({"node_selecter": {"a": "b"}}, "node_selecter", "'node_selector'"),
    ({"gpu": {"cuont": 1}}, "gpu.cuont", "'count'"),
    ({"tolerations": [{"key": "a", "operator": "Exist"}]}, "tolerations[0].operator", "'Exists'"),
    ({"env": [{"secret": "s", "key": "k", "optinal": True}]}, "env[0].optinal", "'optional'"),
])
def test_cluster_typos_get_a_did_you_mean(section, path, hint):
    with pytest.raises(FieldError) as raised:
        ClusterOptions.from_json(section)
    assert raised.value.path == path and f"(did you mean {hint}?)" in raised.value.message, str(raised.value)


def test_missing_fields_are_found_without_reading_exception_text():
    # Required fields are checked by name before the constructor runs; nothing parses a TypeError's text.
    with pytest.raises(FieldError) as raised:
        ClusterOptions.from_json({"data_volume": {}})
    assert (raised.value.path, raised.value.message) == ("data_volume.claim", "is required")
    with pytest.raises(FieldError) as raised:
        ClusterOptions.from_json({"data_volume": {"claim": "d"}})
    assert raised.value.path == "data_volume.mount_path"


def test_kfp_cron_lives_in_its_own_module():
    from agenthpo.cron import kfp_cron as moved

    assert moved is kfp_cron
    with pytest.raises(FieldError, match="hour field '24'"):
        moved("0 24 * * *")
