"""The trivial baseline beside the best trial, and the study run's optimisation-history series."""

import pytest

from agenthpo.baseline import objective_series, trivial_baseline
from agenthpo.trial import Objective, TrialRecord, TrialState


@pytest.mark.parametrize("metric, profile, expected", [
    ("accuracy", {"class_shares": {"0": 0.61, "1": 0.39}}, (0.61, "always class 0")),
    ("validation_accuracy", {"train_class_shares": {"cat": 0.2, "dog": 0.8}}, (0.8, "always class dog")),
    ("f1", {"class_shares": {"0": 0.61, "1": 0.39}}, (0.0, "always class 0")),  # never the positive class
    ("f1", {"class_shares": {"0": 0.25, "1": 0.75}}, (2 * 0.75 / 1.75, "always class 1")),
    ("r2", {}, (0.0, "predicting the mean")),
    ("auc", {}, (0.5, "a random ranking")),
    ("bleu", {"class_shares": {"0": 1.0}}, None),
    ("accuracy", {}, None),
])
def test_trivial_baselines(metric, profile, expected):
    assert trivial_baseline(metric, profile) == expected


def test_the_series_is_each_finished_trial_and_the_best_so_far():
    history = [TrialRecord(2, {}, TrialState.FINISHED, 0.5), TrialRecord(1, {}, TrialState.FINISHED, 0.7),
               TrialRecord(3, {}, TrialState.FAILED), TrialRecord(4, {}, TrialState.FINISHED, 0.9)]
    assert objective_series(history, Objective("f1", "maximize")) == [(1, 0.7, 0.7), (2, 0.5, 0.7), (4, 0.9, 0.9)]
    assert objective_series(history, Objective("loss", "minimize"))[:2] == [(1, 0.7, 0.7), (2, 0.5, 0.5)]
