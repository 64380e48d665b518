import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agenthpo.spec import load_spec
from agenthpo.tasks import TrialContext, load_task
from agenthpo.tasks.deepfm import (
    UNKNOWN,
    Vocabulary,
    build_deepfm,
    decade_of,
    deepfm_logits,
    hidden_layer_sizes,
    log_loss,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TABLE_2 = {"learning_rate", "embedding_dim", "hidden_units", "dropout", "weight_decay", "batch_size", "epochs"}
SMALL = {"learning_rate": 0.003, "embedding_dim": 8, "hidden_units": "64-32", "dropout": 0.1, "weight_decay": 1e-6,
         "batch_size": 512, "epochs": 2}
TINY_SLICE = {"max_users": 60, "threads": 1}


def ratings(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp", "genres", "year"])


def test_registry_resolves_and_the_space_holds_table_2_params():
    task = load_task("deepfm")
    assert task.name == "deepfm" and task.default_objective.metric == "auc" and task.default_objective.maximize
    assert set(task.default_space.names) == TABLE_2
    assert task.default_space.param("learning_rate").log and task.default_space.param("weight_decay").log
    for layout in task.default_space.param("hidden_units").choices:
        assert hidden_layer_sizes(layout)


def test_hidden_units_layouts():
    assert hidden_layer_sizes("400-400-400") == [400, 400, 400] and hidden_layer_sizes("64") == [64]
    for bad in ("wide", "256-", "0-32"):
        with pytest.raises(ValueError, match=rf"hidden_units='{bad}' must be layer widths joined by '-'"):
            hidden_layer_sizes(bad)


def test_vocabulary_maps_unseen_values_to_unknown_and_labels_four_stars_up():
    train = ratings([(1, 10, 4.0, 0, "Action|Comedy", 1995.0), (2, 20, 3.5, 0, "Drama", np.nan)])
    vocabulary = Vocabulary.fit(train)
    assert vocabulary.sizes() == {"user": 3, "movie": 3, "decade": 3, "genres": 4}
    features = vocabulary.encode(ratings([(2, 10, 4.5, 0, "Comedy|Western|Action", 1999.0),
                                          (3, 30, 1.0, 0, "", 2011.0)]))
    # Decades: -1 (unknown year) then 1990; 2010 was never seen in training.
    assert features.single.tolist() == [[2, 1, 2], [UNKNOWN, UNKNOWN, UNKNOWN]]
    assert features.genres.tolist() == [[2, UNKNOWN, 1], [UNKNOWN, UNKNOWN, UNKNOWN]]
    assert features.labels.tolist() == [1.0, 0.0]
    assert decade_of(np.array([1995.0, 2000.0, np.nan])).tolist() == [1990, 2000, -1]


def test_logit_is_first_order_plus_pairwise_interactions_plus_mlp():
    import torch

    torch.manual_seed(0)
    model = build_deepfm({"user": 5, "movie": 6, "decade": 3, "genres": 4}, 3, [8], dropout=0.0).eval()
    for embeddings in model["embeddings"].values():
        torch.nn.init.normal_(embeddings.weight)
    single, genres = torch.tensor([[1, 2, 1], [4, 0, 2]]), torch.tensor([[1, 3], [2, 0]])
    with torch.no_grad():
        logits = deepfm_logits(model, single, genres)
        fields = [model["embeddings"][name](single[:, i]) for i, name in enumerate(("user", "movie", "decade"))]
        fields.append(model["embeddings"]["genres"](genres))
        # The genre field averages its genres and ignores padding: row 2 is genre 2 alone.
        assert torch.allclose(fields[3][1], model["embeddings"]["genres"].weight[2])
        pairwise = sum((fields[i] * fields[j]).sum(dim=1) for i in range(4) for j in range(i + 1, 4))
        deep = model["mlp"](torch.cat(fields, dim=1)).squeeze(1)
        assert torch.allclose(logits, pairwise + deep, atol=1e-5)  # first-order weights start at zero


def test_log_loss():
    assert log_loss(np.array([1.0, 0.0]), np.array([0.5, 0.5])) == pytest.approx(np.log(2))
    assert np.isfinite(log_loss(np.array([1.0]), np.array([0.0])))


@pytest.mark.slow
def test_one_short_trial_learns_and_logs_curves():
    ctx = TrialContext(options=TINY_SLICE, seed=0)
    metrics = load_task("deepfm").train(SMALL, ctx)
    assert set(metrics) <= set(load_task("deepfm").metrics), "train() returns a metric it does not declare"
    assert set(ctx.curves) == {"train_loss", "validation_loss", "validation_auc"}
    assert all([step for step, _ in curve] == [1, 2] for curve in ctx.curves.values())
    assert metrics["auc"] == metrics["validation_auc"] == ctx.curves["validation_auc"][-1][1]
    assert 0.6 < metrics["auc"] <= 1.0 and 0.6 < metrics["test_auc"] <= 1.0
    assert metrics["validation_logloss"] == ctx.curves["validation_loss"][-1][1]
    assert 0.0 < metrics["test_logloss"] < 0.75


def test_profile_describes_the_click_label():
    ctr = load_task("deepfm").profile(TrialContext())["ctr"]
    assert ctr["label"] == "rating >= 4"
    assert ctr["positive_share"] == {"train": 0.527, "validation": 0.464, "test": 0.475}
    assert ctr["field_vocabulary_sizes"]["genres"] == 20 and ctr["validation_movies_unseen_in_train"] == 0.068


@pytest.mark.slow
def test_data_contract_passes_on_movielens_and_rejects_a_ten_point_scale(tmp_path):
    task = load_task("deepfm")
    assert all(report.passed for report in task.check_data(TrialContext()))
    rows = [(user, movie, float(movie % 11), 1_200_000_000 + movie, "Drama", 1990.0)
            for user in range(1, 40) for movie in range(1, 40)]
    path = tmp_path / "ratings.csv"
    ratings(rows).to_csv(path, index=False)
    ratings_report, users_report = task.check_data(TrialContext(str(path)))
    assert users_report.passed and len(ratings_report.failures) == 1
    assert ratings_report.failures[0].startswith("expect_column_values_to_be_in_set(column='rating', value_set=[0.5")
    assert "unexpected value(s), e.g. [6.0, 7.0, 8.0, 9.0, 10.0]" in ratings_report.failures[0]


@pytest.mark.parametrize("path", ["movielens-deepfm.yaml", "gpu/movielens-deepfm.yaml"])
def test_example_specs_load_and_name_this_task(path):
    spec = load_spec(EXAMPLES / path)
    task = load_task(spec.task)
    assert spec.task == "deepfm" and spec.objective == task.default_objective and spec.data is None
    assert set(spec.space.names) == set(task.default_space.names) == TABLE_2
    for param in spec.space:
        assert param.kind == task.default_space.param(param.name).kind


def test_bad_options_and_missing_data_are_clear_errors(tmp_path):
    task = load_task("deepfm")
    with pytest.raises(ValueError, match=r"task_options.split: 'latest' must be one of"):
        task.train(SMALL, TrialContext(options={"split": "latest"}))
    with pytest.raises(ValueError, match=r"hidden_units='wide' must be layer widths"):
        task.train({**SMALL, "hidden_units": "wide"}, TrialContext())
    missing = tmp_path / "ratings.csv"
    with pytest.raises(ValueError, match=rf"data='{missing}' is not a file"):
        task.train(SMALL, TrialContext(str(missing)))


def test_import_does_not_import_torch():
    code = "import sys, agenthpo.tasks.deepfm; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
