import numpy as np
import pytest

from agenthpo.tasks import TASKS, TrialContext, load_task
from agenthpo.tasks.data import split_indices
from agenthpo.tasks.xgboost_tabular import f1_score, r2_score

SMALL = {"max_depth": 3, "learning_rate": 0.1, "min_child_weight": 1, "subsample": 0.9, "colsample_bytree": 0.9,
         "n_estimators": 20, "gamma": 0.0, "reg_alpha": 0.0, "reg_lambda": 1.0}


def test_registry_resolves_and_spaces_hold_table_2_params():
    names = {"max_depth", "learning_rate", "min_child_weight", "subsample", "colsample_bytree", "n_estimators",
             "gamma", "reg_alpha", "reg_lambda"}
    assert set(load_task("xgboost-classification").default_space.names) == names | {"scale_pos_weight"}
    assert set(load_task("xgboost-regression").default_space.names) == names
    assert load_task("xgboost-classification").default_space.param("learning_rate").log
    assert set(TASKS) >= {"xgboost-classification", "xgboost-regression"}


def test_unknown_task_is_a_clear_error():
    with pytest.raises(ValueError, match=r"task: unknown task 'svm'"):
        load_task("svm")
    with pytest.raises(ValueError, match=r"cannot import 'no_such_module'"):
        load_task("no_such_module:TASK")


def test_split_is_fixed_disjoint_and_stratified():
    labels = np.array([0] * 700 + [1] * 300)
    a = split_indices(labels, 0.2, 0.2, seed=0, stratify=True)
    b = split_indices(labels, 0.2, 0.2, seed=0, stratify=True)
    parts_a, parts_b = (a.train, a.validation, a.test), (b.train, b.validation, b.test)
    assert all(np.array_equal(x, y) for x, y in zip(parts_a, parts_b, strict=True))
    assert len(set(a.train) | set(a.validation) | set(a.test)) == 1000
    assert not set(a.train) & set(a.validation) and not set(a.validation) & set(a.test)
    assert labels[a.validation].mean() == pytest.approx(0.3, abs=0.01)
    with pytest.raises(ValueError, match=r"test_fraction=0\.7 outside"):
        split_indices(labels, 0.2, 0.7, seed=0, stratify=False)


def test_metrics():
    assert f1_score(np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0])) == pytest.approx(0.5)
    assert f1_score(np.array([0, 0]), np.array([0, 0])) == 0.0
    assert r2_score(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])) == 1.0


def test_classification_trains_with_curves(water_csv):
    task = load_task("xgboost-classification")
    ctx = TrialContext(str(water_csv), {"target": "Potability"}, seed=0)
    metrics = task.train({**SMALL, "scale_pos_weight": 1.5}, ctx)
    assert set(metrics) <= set(task.metrics), "train() returns a metric it does not declare"
    assert 0.0 < metrics["f1"] <= 1.0 and metrics["f1"] == metrics["validation_f1"]
    assert "test_f1" in metrics
    assert [s for s, _ in ctx.curves["validation_logloss"]] == list(range(1, 21))
    assert set(ctx.curves) == {"train_logloss", "train_error", "validation_logloss", "validation_error"}


def test_a_pruner_stops_boosting_at_the_round_it_decides(water_csv):
    """Rounds are reported while the booster trains (a callback), so TrialPruned ends training there."""
    from agenthpo.pruning import Peer, PeerCurves, PrunerSpec, PruningMonitor, Rule, TrialPruned

    task = load_task("xgboost-classification")
    assert task.pruning_curve == ("validation_logloss", "minimize") and task.step_name == "boosting round"
    rule = Rule(PrunerSpec("median", {"n_startup_trials": 1, "n_warmup_steps": 5}), "validation_logloss", False,
                task.step_name)
    better = Peer(1, True, tuple((step, 0.01) for step in range(1, 101)))  # a finished trial far ahead
    ctx = TrialContext(str(water_csv), {"target": "Potability"}, seed=0)
    ctx.on_report = PruningMonitor(rule, PeerCurves(lambda known: {"other": better}))
    with pytest.raises(TrialPruned) as raised:
        task.train({**SMALL, "n_estimators": 100, "scale_pos_weight": 1.5}, ctx)
    assert raised.value.step == 5 and "at boosting round 5, above the median 0.01" in raised.value.reason
    assert [s for s, _ in ctx.curves["validation_logloss"]] == [1, 2, 3, 4, 5]


def test_multi_class_curves_have_the_binary_names(water_csv, tmp_path):
    import pandas as pd

    frame = pd.read_csv(water_csv)
    frame["Potability"] = (frame["ph"].fillna(7.0) * 10).astype(int) % 3  # three classes
    path = tmp_path / "three.csv"
    frame.to_csv(path, index=False)
    ctx = TrialContext(str(path), {"target": "Potability", "labels": [0, 1, 2]}, seed=0)
    load_task("xgboost-classification").train({**SMALL, "scale_pos_weight": 1.0}, ctx)
    assert set(ctx.curves) == {"train_logloss", "train_error", "validation_logloss", "validation_error"}


def test_regression_trains_with_a_categorical_column(house_csv):
    task = load_task("xgboost-regression")
    ctx = TrialContext(str(house_csv), {"target": "Price"}, seed=0)
    metrics = task.train(SMALL, ctx)
    assert set(metrics) <= set(task.metrics), "train() returns a metric it does not declare"
    assert 0.3 < metrics["r2"] < 1.0
    assert len(ctx.curves["validation_rmse"]) == 20


def test_missing_target_is_a_clear_error(water_csv):
    task = load_task("xgboost-classification")
    with pytest.raises(ValueError, match=r"task_options.target='Label' is not a column"):
        task.train({**SMALL, "scale_pos_weight": 1.0}, TrialContext(str(water_csv), {"target": "Label"}))
    with pytest.raises(ValueError, match=r"task_options.target: required but not given"):
        task.train({**SMALL, "scale_pos_weight": 1.0}, TrialContext(str(water_csv), {}))


def test_profiles_describe_the_data(water_csv, house_csv):
    water = load_task("xgboost-classification").profile(TrialContext(str(water_csv), {"target": "Potability"}))
    assert water["rows"] == 3276 and water["features"] == 9
    assert water["missing_values"] == {"ph": 491, "Sulfate": 781, "Trihalomethanes": 162}
    assert water["class_shares"] == {"0": 0.61, "1": 0.39}
    house = load_task("xgboost-regression").profile(TrialContext(str(house_csv), {"target": "Price"}))
    assert house["rows"] == 50000 and house["categorical_features"] == ["Neighborhood"] and house["target"]["min"] < 0
