import pytest
import yaml
from agenthpo.pipelines.study_pipeline import compile_pipeline
from conftest import ROOT, run_cli

from agenthpo.spec import load_spec


def test_pipeline_compiles_with_chained_uncached_trials(tmp_path):
    spec = load_spec(ROOT / "examples" / "water-potability.yaml")
    path = compile_pipeline(spec, tmp_path / "p.yaml", trials=3)
    doc = yaml.safe_load(path.read_text())
    tasks = doc["root"]["dag"]["tasks"]
    assert len(tasks) == 1 + 3 * 3 + 1
    assert all(t["cachingOptions"].get("enableCache", False) is False for t in tasks.values())
    names = {t["taskInfo"]["name"] for t in tasks.values()}
    assert {"open-study", "trial-1-creator", "trial-3-analyze", "report"} <= names
    by_name = {t["taskInfo"]["name"]: t for t in tasks.values()}
    key = {t["taskInfo"]["name"]: k for k, t in tasks.items()}
    assert key["trial-1-analyze"] in by_name["trial-2-creator"]["dependentTasks"]
    assert key["trial-3-analyze"] in by_name["report"]["dependentTasks"]
    # The spec travels as the pipeline parameter's default, so a cluster run needs nothing else.
    default = doc["root"]["inputDefinitions"]["parameters"]["spec_json"]["defaultValue"]
    assert yaml.safe_load(default)["name"] == "water-potability"
    images = {e["container"]["image"] for e in doc["deploymentSpec"]["executors"].values()}
    assert any("train" in i for i in images) and any("control" in i for i in images)


def test_compile_command(tmp_path):
    done = run_cli("compile", ROOT / "examples" / "house-price.yaml", "-o", tmp_path / "hp.yaml", "--trials", "2",
                   cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "2 trial iterations" in done.stdout
    assert len(yaml.safe_load((tmp_path / "hp.yaml").read_text())["root"]["dag"]["tasks"]) == 1 + 2 * 3 + 1


def test_a_pruner_travels_in_the_spec_and_adds_no_step(tmp_path):
    """Pruning happens inside the training step: the compiled pipeline has the same steps, and its spec
    parameter carries the pruner to every step on the cluster."""
    from agenthpo.pruning import PrunerSpec
    from agenthpo.spec import parse_spec

    spec = load_spec(ROOT / "examples" / "water-potability.yaml")
    pruned = parse_spec({**spec.to_json(), "pruner": {"name": "asha", "reduction_factor": 2}}, base_dir=None)
    plain_doc = yaml.safe_load(compile_pipeline(spec, tmp_path / "a.yaml", trials=2).read_text())
    pruned_doc = yaml.safe_load(compile_pipeline(pruned, tmp_path / "b.yaml", trials=2).read_text())
    assert plain_doc["root"]["dag"]["tasks"].keys() == pruned_doc["root"]["dag"]["tasks"].keys()
    default = pruned_doc["root"]["inputDefinitions"]["parameters"]["spec_json"]["defaultValue"]
    assert parse_spec(yaml.safe_load(default), base_dir=None).pruner == PrunerSpec("asha", {"reduction_factor": 2})


def test_the_kubeflow_ui_gets_metrics_per_trial_and_an_html_report(tmp_path):
    spec = load_spec(ROOT / "examples" / "water-potability.yaml")
    doc = yaml.safe_load(compile_pipeline(spec, tmp_path / "p.yaml", trials=2).read_text())
    outputs = {name: component.get("outputDefinitions", {}).get("artifacts", {})
               for name, component in doc["components"].items()}
    train = next(o for name, o in outputs.items() if name.startswith("comp-train"))
    report = next(o for name, o in outputs.items() if name.startswith("comp-report"))
    assert train["metrics"]["artifactType"]["schemaTitle"] == "system.Metrics"
    assert report["html"]["artifactType"]["schemaTitle"] == "system.HTML"
    assert report["markdown"]["artifactType"]["schemaTitle"] == "system.Markdown"


@pytest.mark.slow
def test_a_local_run_of_the_compiled_shape_writes_the_html_and_markdown_outputs(tmp_path, sqlite_uri):
    from agenthpo.pipelines.local import run_local
    from conftest import quadratic_spec

    from agenthpo.spec import parse_spec

    spec = parse_spec(quadratic_spec(sqlite_uri, budget={"trials": 2, "max_failed_trials": 1}), base_dir=None)
    outputs = run_local(spec, 2, tmp_path / "work", tmp_path / "kfp.log", report=True)
    (page,) = [p for p in outputs.rglob("html") if p.parent.name == "report"]
    (markdown,) = [p for p in outputs.rglob("markdown") if p.parent.name == "report"]
    assert page.read_text().startswith("<!DOCTYPE html>") and "data:image/png;base64," in page.read_text()
    assert markdown.read_text().startswith("# Study `quadratic`")
    assert "<h1>Study <code>quadratic</code></h1>" in page.read_text()
