"""Link prediction with a VGAE on the Planetoid graphs (the paper's Pubmed task)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA, ROOT

from agenthpo.spec import load_spec
from agenthpo.tasks import TrialContext, load_task
from agenthpo.tasks.vgae import sample_non_edges, split_edges

PLANETOID = DATA / "planetoid"
TABLE_2 = {"learning_rate", "hidden_channels", "latent_channels", "dropout", "weight_decay", "epochs"}
# The GAE paper's setting, for a few epochs.
GAE = {"learning_rate": 0.01, "hidden_channels": 32, "latent_channels": 16, "dropout": 0.0, "weight_decay": 1e-8,
       "epochs": 8}
# One thread: on a small shared machine, competing OpenMP threads slow these graphs down.
FAST = {"threads": 1}


@pytest.fixture(scope="module")
def task():
    assert (PLANETOID / "ind.pubmed.graph").exists(), f"dataset missing: {PLANETOID} (or set AGENTHPO_DATA)"
    return load_task("link-prediction")


def keys(edges, num_nodes):
    return set((edges[0] * num_nodes + edges[1]).tolist())


def test_space_holds_the_table_2_parameters(task):
    assert set(task.default_space.names) == TABLE_2
    assert task.default_space.param("learning_rate").log and task.default_space.param("weight_decay").log
    assert task.default_space.param("latent_channels").kind == "ordinal"
    assert task.default_objective.metric == "auc" and task.default_objective.maximize
    task.default_space.validate({**GAE, "epochs": 200})  # the GAE paper's setting is in the space


def test_edge_split_is_fixed_disjoint_and_its_negatives_are_non_edges():
    rng = np.random.default_rng(1)
    pairs = np.unique(np.sort(rng.integers(0, 300, size=(2000, 2)), axis=1), axis=0)
    edges = pairs[pairs[:, 0] < pairs[:, 1]].T
    a = split_edges(edges, 300, 0.05, 0.10, seed=0)
    b = split_edges(edges, 300, 0.05, 0.10, seed=0)
    assert all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("train", "validation", "test",
                                                                      "validation_negative", "test_negative"))
    n = edges.shape[1]
    assert a.sizes() == {"train": n - int(n * 0.05) - int(n * 0.10), "validation": int(n * 0.05),
                         "test": int(n * 0.10)}
    parts = [keys(a.train, 300), keys(a.validation, 300), keys(a.test, 300)]
    assert set().union(*parts) == keys(edges, 300) and sum(map(len, parts)) == n
    negatives = np.concatenate([a.validation_negative, a.test_negative], axis=1)
    assert not keys(negatives, 300) & keys(edges, 300) and len(keys(negatives, 300)) == negatives.shape[1]
    assert np.all(negatives[0] < negatives[1]) and a.validation_negative.shape == a.validation.shape
    assert not np.array_equal(split_edges(edges, 300, 0.05, 0.10, seed=1).test, a.test)


def test_a_graph_too_small_to_split_is_a_clear_error():
    complete = np.array([[0, 0, 1], [1, 2, 2]])
    with pytest.raises(ValueError, match=r"cannot sample 1 non-edges: the graph has only 0"):
        sample_non_edges(complete, 3, 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"3 edges cannot be split into validation 0.05"):
        split_edges(complete, 3, 0.05, 0.1, seed=0)


def test_one_short_trial_on_cora_with_features(task):
    ctx = TrialContext(str(PLANETOID), {"dataset": "cora", **FAST}, seed=0)
    metrics = task.train({**GAE, "dropout": 0.2}, ctx)
    assert set(ctx.curves) == {"train_loss", "validation_loss", "validation_auc", "validation_ap"}
    assert [step for step, _ in ctx.curves["validation_auc"]] == list(range(1, 9))
    assert metrics["auc"] == metrics["validation_auc"] == ctx.curves["validation_auc"][-1][1]
    # Random scores give 0.5; Cora's word features alone put a VGAE past 0.7 from the first epochs.
    assert 0.7 < metrics["auc"] <= 1.0 and 0.7 < metrics["test_auc"] <= 1.0 and 0.7 < metrics["test_ap"] <= 1.0
    assert np.isfinite(metrics["validation_loss"]) and np.isfinite(metrics["train_loss"])


def test_one_short_featureless_trial_on_pubmed(task):
    ctx = TrialContext(str(PLANETOID), {"dataset": "pubmed", **FAST}, seed=0)
    metrics = task.train({**GAE, "epochs": 3, "dropout": 0.1}, ctx)
    assert len(ctx.curves["train_loss"]) == 3
    assert 0.5 < metrics["auc"] <= 1.0 and 0.5 < metrics["test_auc"] <= 1.0


def test_bad_options_are_clear_errors(task):
    with pytest.raises(ValueError, match=r"task_options.validation_fraction: 0.7 must be a number in \(0, 0.5\)"):
        task.train(GAE, TrialContext(str(PLANETOID), {"validation_fraction": 0.7, **FAST}))
    with pytest.raises(ValueError, match=r"task_options.split_seed: -1 must be an integer >= 0"):
        task.profile(TrialContext(str(PLANETOID), {"split_seed": -1}))
    with pytest.raises(ValueError, match=r"ind\.pubmed\.allx, so features: given cannot work for pubmed"):
        task.train(GAE, TrialContext(str(PLANETOID), {"dataset": "pubmed", "features": "given", **FAST}))


def test_profile_and_contract_on_pubmed(task):
    ctx = TrialContext(str(PLANETOID), {"dataset": "pubmed"})
    profile = task.profile(ctx)
    json.dumps(profile)
    assert profile["edge_split"] == {"train": 37676, "validation": 2216, "test": 4432}
    assert profile["nodes"] == 19717 and "class_shares" not in profile
    assert profile["input_features"] == "featureless: one learned embedding per node"
    reports = task.check_data(ctx)
    assert [(r.table, r.passed) for r in reports] == [("pubmed.nodes", True), ("pubmed.edges", True)]


@pytest.mark.parametrize(("path", "dataset"), [("examples/pubmed-vgae.yaml", "pubmed"),
                                               ("examples/gpu/pubmed-vgae.yaml", "pubmed"),
                                               ("examples/cora-vgae.yaml", "cora")])
def test_example_specs_name_this_task_and_its_space(task, path, dataset):
    spec = load_spec(ROOT / path)
    assert spec.task == "link-prediction" and spec.objective == task.default_objective
    assert set(spec.space.names) == TABLE_2
    assert spec.proposer.name == "agent" and spec.budget.trials == 10 and spec.budget.max_failed_trials == 3
    assert spec.task_options["dataset"] == dataset and (Path(spec.data) / f"ind.{dataset}.graph").exists()
    for param in spec.space:  # the example may narrow the plug-in's ranges, never widen them
        own = task.default_space.param(param.name)
        if param.kind in ("float", "int"):
            assert own.low <= param.low <= param.high <= own.high, param.name
        else:
            assert set(param.choices) <= set(own.choices), param.name


def test_import_does_not_load_torch():
    code = "import sys, agenthpo.tasks.vgae; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
