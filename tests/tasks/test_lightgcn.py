import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agenthpo.spec import load_spec
from agenthpo.tasks import TrialContext, load_task
from agenthpo.tasks.lightgcn import (
    InteractionGraph,
    NegativeSampler,
    build_graph,
    lightgcn_embeddings,
    ndcg_and_recall,
    normalised_adjacency,
    rank_metrics,
)
from agenthpo.tasks.movielens import load_split

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TABLE_2 = {"learning_rate", "embedding_dim", "num_layers", "weight_decay", "batch_size", "epochs"}
SMALL = {"learning_rate": 0.02, "embedding_dim": 16, "num_layers": 2, "weight_decay": 1e-4, "batch_size": 1024,
         "epochs": 2}
TINY_SLICE = {"max_users": 60, "threads": 1}


def tiny_graph(train, validation=((0, 1),), num_users=2, num_items=12) -> InteractionGraph:
    return InteractionGraph(num_users, num_items, np.array(train), np.array(validation), np.zeros((0, 2), int),
                            {"validation": 0, "test": 0})


def test_registry_resolves_and_the_space_holds_table_2_params():
    task = load_task("lightgcn")
    assert task.name == "lightgcn" and task.default_objective.metric == "ndcg_at_10" and task.default_objective.maximize
    assert set(task.default_space.names) == TABLE_2
    assert task.default_space.param("learning_rate").log and task.default_space.param("weight_decay").log


@pytest.mark.slow
def test_one_short_trial_learns_and_logs_curves():
    ctx = TrialContext(options=TINY_SLICE, seed=0)
    metrics = load_task("lightgcn").train(SMALL, ctx)
    assert set(metrics) <= set(load_task("lightgcn").metrics), "train() returns a metric it does not declare"
    assert set(ctx.curves) == {"train_loss", "validation_loss", "validation_ndcg_at_10", "validation_recall_at_10"}
    assert all([step for step, _ in curve] == [1, 2] for curve in ctx.curves.values())
    assert metrics["ndcg_at_10"] == metrics["validation_ndcg_at_10"] == ctx.curves["validation_ndcg_at_10"][-1][1]
    # A random ranking of the ~4,000 movies scores about 0.003; two epochs already find popular movies.
    assert 0.02 < metrics["ndcg_at_10"] <= 1.0 and 0.0 < metrics["test_ndcg_at_10"] <= 1.0
    assert 0.0 < metrics["test_recall_at_10"] <= 1.0
    losses = [value for _, value in ctx.curves["train_loss"]]
    assert losses[1] < losses[0] < np.log(2) + 0.05


def test_ndcg_and_recall_by_hand():
    hits = np.array([[0, 1, 0], [1, 0, 0]], dtype=float)
    ndcg, recall = ndcg_and_recall(hits, np.array([2, 1]))
    # User 1: DCG 1/log2(3) over the ideal 1 + 1/log2(3); user 2: a perfect ranking.
    assert ndcg == pytest.approx(((1 / np.log2(3)) / (1 + 1 / np.log2(3)) + 1.0) / 2)
    assert recall == pytest.approx((0.5 + 1.0) / 2)


def test_ranking_leaves_the_users_training_movies_out():
    import torch

    graph = tiny_graph(train=[(0, 0), (1, 2)])
    scores = torch.tensor([12.0, 11.0] + [10.0 - i for i in range(12)])  # users, then movies 0..11
    final = scores.unsqueeze(1)
    # User 0's best-scored movie 0 is a training movie: the held-out movie 1 ranks first.
    assert rank_metrics(final, graph, graph.validation, [graph.train]) == (1.0, 1.0)
    assert rank_metrics(final, graph, graph.validation, [])[0] == pytest.approx(1 / np.log2(3))


def test_propagation_matches_the_dense_normalised_graph_and_its_gradient():
    import torch

    graph = tiny_graph(train=[(0, 0), (0, 1), (1, 1), (1, 2)], num_items=3)
    adjacency = normalised_adjacency(graph, torch.device("cpu"))
    dense = adjacency.to_dense()
    assert torch.allclose(dense, dense.T)
    # User 0 (degree 2) and movie 1 (degree 2): 1 / sqrt(2 * 2).
    assert dense[0, graph.num_users + 1].item() == pytest.approx(0.5)
    layer0 = torch.randn(5, 4, requires_grad=True)
    reference = layer0.detach().clone().requires_grad_(True)
    out = lightgcn_embeddings(layer0, adjacency, 2)
    expected = (reference + dense @ reference + dense @ (dense @ reference)) / 3
    assert torch.allclose(out, expected, atol=1e-6)
    weights = torch.randn(5, 4)
    (out * weights).sum().backward()
    (expected * weights).sum().backward()
    assert torch.allclose(layer0.grad, reference.grad, atol=1e-6)


def test_negatives_are_movies_the_user_did_not_rate():
    graph = tiny_graph(train=[(0, i) for i in range(11)] + [(1, 0)] + [(2, i) for i in range(12)], num_users=3)
    sampler = NegativeSampler(graph, seed=0)
    assert set(sampler.sample(np.zeros(200, dtype=np.int64)).numpy()) == {11}
    assert set(sampler.sample(np.ones(200, dtype=np.int64)).numpy()) == set(range(1, 12))
    # User 2 rated every movie: any movie, rather than an endless search.
    assert len(sampler.sample(np.full(200, 2, dtype=np.int64))) == 200


def test_graph_drops_held_out_movies_unseen_in_training():
    graph = build_graph(load_split(TrialContext(options={"max_users": 30})))
    assert graph.train[:, 0].max() == graph.num_users - 1 == 29
    assert graph.validation[:, 1].max() < graph.num_items and graph.dropped_cold["validation"] > 0


def test_profile_gives_graph_sizes():
    profile = load_task("lightgcn").profile(TrialContext())
    assert profile["users"] == 671 and profile["graph"]["user_nodes"] == 671
    assert profile["graph"]["training_interactions"] == 80022
    assert profile["graph"]["held_out_pairs_dropped_for_unseen_movies"] == {"validation": 676, "test": 841}


@pytest.mark.slow
def test_data_contract_passes_on_movielens_and_rejects_a_truncated_copy(tmp_path):
    task = load_task("lightgcn")
    assert all(report.passed for report in task.check_data(TrialContext()))
    rows = [f"{user},{movie},4.0,1200000000" for user in (1, 2) for movie in range(1, 40)]
    path = tmp_path / "ratings.csv"
    path.write_text("\n".join(["userId,movieId,rating,timestamp", *rows, "3,1,4."]))  # cut off mid-row
    ratings, users = task.check_data(TrialContext(str(path)))
    assert ratings.failures == (
        "expect_table_row_count_to_be_between(min_value=1000, max_value=None): observed 79",
        "expect_column_values_to_not_be_null(column='timestamp'): 1 unexpected value(s), e.g. [nan]",
    )
    assert users.failures == ("expect_column_values_to_be_between(column='ratings', min_value=3, max_value=None): "
                              "1 unexpected value(s), e.g. [1]",)


@pytest.mark.parametrize("path", ["movielens-lightgcn.yaml", "gpu/movielens-lightgcn.yaml"])
def test_example_specs_load_and_name_this_task(path):
    spec = load_spec(EXAMPLES / path)
    task = load_task(spec.task)
    assert spec.task == "lightgcn" and spec.objective == task.default_objective and spec.data is None
    assert set(spec.space.names) == set(task.default_space.names) == TABLE_2
    for param in spec.space:
        assert param.kind == task.default_space.param(param.name).kind


def test_bad_options_and_missing_data_are_clear_errors(tmp_path):
    task = load_task("lightgcn")
    with pytest.raises(ValueError, match=r"task_options.max_users: -3 must be an integer >= 1"):
        task.train(SMALL, TrialContext(options={"max_users": -3}))
    with pytest.raises(ValueError, match=r"task_options.threads: 0 must be an integer >= 1"):
        task.train(SMALL, TrialContext(options={"threads": 0}))
    missing = tmp_path / "ratings.csv"
    with pytest.raises(ValueError, match=rf"data='{missing}' is not a file"):
        task.train(SMALL, TrialContext(str(missing)))


def test_import_does_not_import_torch():
    code = "import sys, agenthpo.tasks.lightgcn; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
