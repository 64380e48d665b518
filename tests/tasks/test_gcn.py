"""Node classification with a GCN on the Planetoid graphs (the paper's Cora task)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DATA, ROOT

from agenthpo.spec import load_spec
from agenthpo.tasks import TrialContext, load_task

PLANETOID = DATA / "planetoid"
TABLE_2 = {"learning_rate", "weight_decay", "hidden_size", "num_layers", "dropout", "activation", "optimizer",
           "epochs"}
# Kipf & Welling's setting, with a higher learning rate so that a few epochs learn something.
KIPF = {"learning_rate": 0.05, "weight_decay": 5e-4, "hidden_size": 16, "num_layers": 2, "dropout": 0.5,
        "activation": "relu", "optimizer": "adam", "epochs": 15}
# One thread: on a small shared machine, competing OpenMP threads slow these tiny graphs down.
FAST = {"threads": 1}


@pytest.fixture(scope="module")
def task():
    assert (PLANETOID / "ind.cora.graph").exists(), f"dataset missing: {PLANETOID} (or set AGENTHPO_DATA)"
    return load_task("node-classification")


def test_space_holds_the_table_2_parameters(task):
    assert set(task.default_space.names) == TABLE_2
    assert task.default_space.param("learning_rate").log and task.default_space.param("weight_decay").log
    space = task.default_space
    assert space.param("hidden_size").kind == "ordinal" and space.param("activation").kind == "categorical"
    assert task.default_objective.metric == "accuracy" and task.default_objective.maximize
    task.default_space.validate({**KIPF, "epochs": 200})  # Kipf & Welling's setting is in the space


def test_one_short_trial_on_cora_learns_and_logs_curves(task):
    ctx = TrialContext(str(PLANETOID), {"dataset": "cora", **FAST}, seed=0)
    metrics = task.train(KIPF, ctx)
    assert set(metrics) <= set(task.metrics), "train() returns a metric it does not declare"
    assert set(ctx.curves) == {"train_loss", "validation_loss", "validation_accuracy"}
    assert [step for step, _ in ctx.curves["validation_accuracy"]] == list(range(1, 16))
    assert metrics["accuracy"] == metrics["validation_accuracy"] == ctx.curves["validation_accuracy"][-1][1]
    # Seven classes: chance is about 0.3 (the largest class); a GCN passes 0.6 within a few epochs.
    assert 0.6 < metrics["accuracy"] <= 1.0 and 0.6 < metrics["test_accuracy"] <= 1.0
    assert ctx.curves["train_loss"][-1][1] < ctx.curves["train_loss"][0][1]
    assert 1 <= metrics["best_epoch"] <= 15


def test_featureless_pubmed_trains_through_node_embeddings(task):
    ctx = TrialContext(str(PLANETOID), {"dataset": "pubmed", **FAST}, seed=0)
    metrics = task.train({**KIPF, "num_layers": 1, "epochs": 3}, ctx)
    assert 0.0 <= metrics["accuracy"] <= 1.0 and len(ctx.curves["train_loss"]) == 3


def test_a_diverging_run_fails(task):
    ctx = TrialContext(str(PLANETOID), FAST, seed=0)
    with pytest.raises(FloatingPointError, match=r"training loss became nan in epoch \d+: diverged"):
        task.train({**KIPF, "learning_rate": 1e30, "dropout": 0.0}, ctx)


def test_bad_options_are_clear_errors(task):
    with pytest.raises(ValueError, match=r"task_options.threads: 0 must be an integer >= 1"):
        task.train(KIPF, TrialContext(str(PLANETOID), {"threads": 0}))
    with pytest.raises(ValueError, match=r"task_options.dataset: 'ogbn-arxiv' must be one of"):
        task.train(KIPF, TrialContext(str(PLANETOID), {"dataset": "ogbn-arxiv", **FAST}))
    with pytest.raises(ValueError, match=r"task_options.features: 'bert' must be one of \['given', 'identity'"):
        task.profile(TrialContext(str(PLANETOID), {"features": "bert"}))
    with pytest.raises(ValueError, match=r"data='/missing/planetoid' is not a folder"):
        task.train(KIPF, TrialContext("/missing/planetoid", FAST))


def test_profile_and_contract_on_cora(task):
    ctx = TrialContext(str(PLANETOID), {})
    profile = task.profile(ctx)
    json.dumps(profile)
    assert profile["labelled_nodes"] == {"train": 140, "validation": 500, "test": 1000}
    assert profile["classes"] == 7 and profile["nodes"] == 2708
    reports = task.check_data(ctx)
    assert [r.table for r in reports] == ["cora.nodes", "cora.split_nodes", "cora.edges", "cora.features"]
    assert all(r.passed for r in reports)


@pytest.mark.parametrize("path", ["examples/cora-gcn.yaml", "examples/gpu/cora-gcn.yaml"])
def test_example_specs_name_this_task_and_its_space(task, path):
    spec = load_spec(ROOT / path)
    assert spec.task == "node-classification" and spec.objective == task.default_objective
    assert set(spec.space.names) == TABLE_2
    assert spec.proposer.name == "agent" and spec.budget.trials == 10 and spec.budget.max_failed_trials == 3
    assert spec.task_options["dataset"] == "cora" and (Path(spec.data) / "ind.cora.graph").exists()
    for param in spec.space:  # the example may narrow the plug-in's ranges, never widen them
        own = task.default_space.param(param.name)
        if param.kind in ("float", "int"):
            assert own.low <= param.low <= param.high <= own.high, param.name
        else:
            assert set(param.choices) <= set(own.choices), param.name


def test_import_does_not_load_torch():
    code = "import sys, agenthpo.tasks.gcn; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_a_cora_study_with_the_median_pruner_prunes_and_records_it(tmp_path, sqlite_uri):
    """The issue's real study: GCN on Cora with `pruner: {name: median}`; trials whose validation accuracy
    trails the finished trials' median at the same epoch stop there, recorded PRUNED with the reason."""
    from agenthpo.tracking import MlflowStudyStore

    from agenthpo import names, study
    from agenthpo.pruning import PrunerSpec
    from agenthpo.trial import TrialState

    spec = load_spec(ROOT / "benchmarks" / "specs" / "cora-gcn-short.yaml").with_overrides(
        trials=8, proposer="random", tracking_uri=sqlite_uri)
    spec = spec.replace(task_options={**spec.task_options, **FAST}, data=str(PLANETOID),
                        pruner=PrunerSpec("median", {"n_startup_trials": 2, "n_warmup_steps": 5}))
    store = MlflowStudyStore(sqlite_uri)
    study_id = study.open_study(spec, store).study_id
    study.run_inprocess(spec, store, study_id)
    history = store.history(study_id)
    pruned = [t for t in history if t.state == TrialState.PRUNED]
    assert len(history) == 8 and pruned, [(t.number, t.state, t.value) for t in history]
    for trial in pruned:
        tags = store.client.get_run(trial.run_id).data.tags
        assert tags[names.PRUNED] == "true" and int(tags[names.PRUNED_STEP]) == trial.pruned_step >= 5
        assert trial.pruned_reason.startswith("validation_accuracy ") and "below the median" in trial.pruned_reason
        assert f"at epoch {trial.pruned_step}" in trial.pruned_reason
        assert trial.pruned_step < trial.params["epochs"]
    assert not any(t.state == TrialState.FAILED for t in history)
