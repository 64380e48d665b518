"""The analytic benchmark functions: known optima, shifts that move them, bounds of the spaces."""

import pytest

from agenthpo.tasks import TrialContext, load_task
from agenthpo.tasks.analytic import FUNCTIONS

NAMES = sorted(FUNCTIONS)


@pytest.mark.parametrize("name", NAMES)
def test_every_known_optimum_has_the_known_minimum(name):
    task = load_task(name)
    assert task.default_objective.metric == "value" and task.default_objective.direction == "minimize"
    for x1, x2 in task.optima:
        result = task.train({"x1": x1, "x2": x2}, TrialContext())
        assert result["value"] == pytest.approx(task.minimum, abs=1e-5)
    # Anything else in the domain is worse: a coarse grid never goes below the minimum.
    lows, highs = zip(*task.domain, strict=True)
    grid = [(lows[0] + (highs[0] - lows[0]) * i / 20, lows[1] + (highs[1] - lows[1]) * j / 20)
            for i in range(21) for j in range(21)]
    assert min(task.evaluate({"x1": a, "x2": b}) for a, b in grid) >= task.minimum - 1e-6


@pytest.mark.parametrize("name", NAMES)
def test_the_space_is_the_usual_domain(name):
    task = load_task(name)
    assert task.default_space.names == ["x1", "x2"]
    for param, (low, high) in zip(task.default_space, task.domain, strict=True):
        assert (param.low, param.high) == (low, high)
    with pytest.raises(ValueError, match="outside"):
        task.default_space.validate({"x1": task.domain[0][1] + 1, "x2": task.domain[1][0]})


def test_shift_moves_the_optimum():
    task = load_task("rosenbrock")
    ctx = TrialContext(options={"shift": [1.5, -2.0]})
    assert task.train({"x1": 2.5, "x2": -1.0}, ctx)["value"] == pytest.approx(0.0)
    assert task.train({"x1": 1.0, "x2": 1.0}, ctx)["value"] > 100  # the textbook optimum is no longer one
    ackley = load_task("ackley")
    assert ackley.train({"x1": 7.3, "x2": -11.1}, TrialContext(options={"shift": [7.3, -11.1]}))[
        "value"] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("shift, message", [
    ([20.0, 0.0], "out of the domain"), ([1.0], "list of 2 numbers"), ("up", "list of 2 numbers"),
])
def test_a_bad_shift_names_the_option_and_value(shift, message):
    with pytest.raises(ValueError, match=rf"task_options\.shift[=:].*{message}"):
        load_task("himmelblau").train({"x1": 0.0, "x2": 0.0}, TrialContext(options={"shift": shift}))


def test_noise_is_seeded_and_the_true_value_kept():
    task = load_task("branin")
    params = {"x1": 0.0, "x2": 5.0}
    first = task.train(params, TrialContext(options={"noise": 0.5}, seed=3))
    again = task.train(params, TrialContext(options={"noise": 0.5}, seed=3))
    assert first == again and first["value"] != first["true_value"]
    assert first["true_value"] == pytest.approx(task.evaluate(params))
    with pytest.raises(ValueError, match=r"task_options\.noise: -1"):
        task.train(params, TrialContext(options={"noise": -1}))


def test_the_profile_withholds_the_formula_and_the_optimum():
    profile = load_task("branin").profile(TrialContext(options={"shift": [1.0, 1.0]}))
    text = str(profile)
    assert "pi" not in text and "12.275" not in text and "shift" not in text
    assert profile["variables"]["x2"] == {"low": 0.0, "high": 15.0}
