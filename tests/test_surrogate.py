"""The agent's surrogate (agenthpo.surrogate): a GP that fits what it has seen and an EI that points
where a known function is best."""

import math

import numpy as np
import pytest

from agenthpo.space import CategoricalParam, FloatParam, IntParam, OrdinalParam, SearchSpace
from agenthpo.surrogate import MIN_TRIALS, GaussianProcess, encode, expected_improvement
from agenthpo.trial import Objective, TrialRecord, TrialState

LINE = SearchSpace([FloatParam("x", 0.0, 1.0)])
PLANE = SearchSpace([FloatParam("x", 0.0, 1.0), FloatParam("y", 0.0, 1.0)])
MIXED = SearchSpace([
    FloatParam("lr", 1e-4, 1.0, log=True),
    IntParam("depth", 1, 9),
    CategoricalParam("act", ("relu", "tanh", "gelu")),
    OrdinalParam("batch", (16, 32, 64)),
])


def quadratic(params) -> float:
    """Best (0) at x=0.3 (and y=0.7 on the plane)."""
    return -(params["x"] - 0.3) ** 2 - (params.get("y", 0.7) - 0.7) ** 2


def mixed_score(params) -> float:
    """Best at lr=1e-2, depth=5, act=gelu, batch=32."""
    return (-(math.log10(params["lr"]) + 2) ** 2 / 4 - (params["depth"] - 5) ** 2 / 16
            - 0.5 * (params["act"] != "gelu") - 0.1 * abs(MIXED.param("batch").index(params["batch"]) - 1))


def trials(space, configs, f, direction="maximize"):
    sign = 1.0 if direction == "maximize" else -1.0
    return [TrialRecord(i + 1, c, TrialState.FINISHED, sign * f(c)) for i, c in enumerate(configs)]


def random_configs(space, count, seed):
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(count)]


def test_gp_interpolates_its_points_and_is_unsure_away_from_them():
    x = np.linspace(0.0, 0.4, 9)[:, None]
    y = np.sin(6 * x[:, 0]) * 3 + 10
    gp = GaussianProcess(x, y)
    mean, sd = gp.predict(x)
    assert np.allclose(mean, y, atol=0.05 * y.std())
    assert sd.max() < 0.1 * y.std()
    _, far = gp.predict(np.array([[1.0]]))
    assert far[0] > 5 * sd.max()
    assert far[0] == pytest.approx(y.std(), rel=0.2)  # back to the prior's spread


def test_gp_on_two_dimensions_predicts_between_its_points():
    grid = [{"x": a, "y": b} for a in np.linspace(0, 1, 5) for b in np.linspace(0, 1, 5)]
    x = np.stack([encode(PLANE, c) for c in grid])
    y = np.array([quadratic(c) for c in grid])
    gp = GaussianProcess(x, y)
    mean, _ = gp.predict(np.array([[0.3, 0.7], [0.9, 0.1]]))
    assert mean[0] == pytest.approx(0.0, abs=0.02) and mean[1] == pytest.approx(-0.72, abs=0.05)


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
@pytest.mark.parametrize("space", [LINE, PLANE], ids=["1d", "2d"])
def test_expected_improvement_prefers_the_candidate_near_the_optimum(space, direction):
    # Observations everywhere except close to the optimum: EI must still point at it.
    configs = [c for c in random_configs(space, 40, seed=1) if abs(c["x"] - 0.3) > 0.1][:12]
    history = trials(space, configs, quadratic, direction)
    near = {"x": 0.3, "y": 0.7} if space is PLANE else {"x": 0.3}
    far = [{"x": 0.95, "y": 0.05}, {"x": 0.02, "y": 0.02}] if space is PLANE else [{"x": 0.95}, {"x": 0.8}]
    scores = expected_improvement(space, history, Objective("score", direction), [*far, near])
    assert scores is not None and len(scores) == 3
    assert all(s >= 0 for s in scores)
    assert int(np.argmax(scores)) == 2, scores


def test_expected_improvement_is_small_where_the_surrogate_is_sure_and_bad():
    history = trials(LINE, [{"x": v} for v in np.linspace(0, 1, 11)], quadratic)
    scores = expected_improvement(LINE, history, Objective("score"), [{"x": 0.31}, {"x": 1.0}])
    assert scores[1] < 1e-3 * scores[0]


def test_no_scores_with_too_few_finished_trials():
    objective = Objective("score")
    finished = trials(LINE, [{"x": 0.1}, {"x": 0.9}], quadratic)
    others = [TrialRecord(3, {"x": 0.5}, TrialState.FAILED, error="boom"),
              TrialRecord(4, {"x": 0.6}, TrialState.RUNNING),
              TrialRecord(5, {"x": 7.0}, TrialState.FINISHED, 1.0)]  # from another space: ignored
    assert MIN_TRIALS == 3
    assert expected_improvement(LINE, finished + others, objective, [{"x": 0.3}]) is None
    enough = finished + others + trials(LINE, [{"x": 0.5}], quadratic)
    assert expected_improvement(LINE, enough, objective, [{"x": 0.3}]) is not None


def test_encoding_of_int_log_ordinal_and_categorical_params():
    row = encode(MIXED, {"lr": 1e-2, "depth": 5, "act": "tanh", "batch": 64})
    # lr on its log scale, depth on [1, 9], act one-hot over three choices, batch as its rank.
    assert np.allclose(row, [0.5, 0.5, 0.0, 1.0, 0.0, 1.0])


def test_expected_improvement_on_a_mixed_space():
    history = trials(MIXED, random_configs(MIXED, 30, seed=4), mixed_score)
    best = {"lr": 1e-2, "depth": 5, "act": "gelu", "batch": 32}
    candidates = [
        {"lr": 1e-4, "depth": 1, "act": "relu", "batch": 16},
        {"lr": 1.0, "depth": 9, "act": "tanh", "batch": 64},
        {"lr": 1e-2, "depth": 5, "act": "relu", "batch": 32},  # only the category is wrong
        best,
    ]
    scores = expected_improvement(MIXED, history, Objective("score"), candidates)
    assert int(np.argmax(scores)) == 3, scores
    assert scores[3] > 100 * scores[2], scores  # the category alone tells them apart
