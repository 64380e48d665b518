"""The agent's Gaussian-process search (agenthpo.proposers.gp_search): its unit scale, its neighbours, and
proposals that point where a known function is best."""

import math

import numpy as np
import pytest

from agenthpo.proposers.base import SpaceExhausted, history_rng, tried_keys
from agenthpo.proposers.gp_search import GPProposer, from_unit, neighbour
from agenthpo.space import CategoricalParam, FloatParam, IntParam, OrdinalParam, SearchSpace
from agenthpo.surrogate import expected_improvement
from agenthpo.trial import Objective, TrialRecord, TrialState

PLANE = SearchSpace([FloatParam("x", 0.0, 1.0), FloatParam("y", 0.0, 1.0)])
OPTIMUM = (0.3, 0.7)
MIXED = SearchSpace([
    FloatParam("lr", 1e-4, 1.0, log=True),
    FloatParam("dropout", 0.0, 0.5),
    IntParam("depth", 1, 12),
    IntParam("width", 8, 1024, log=True),
    OrdinalParam("batch", (16, 32, 64, 128)),
    CategoricalParam("act", ("relu", "tanh", "gelu")),
])


def distance(params) -> float:
    return math.hypot(params["x"] - OPTIMUM[0], params["y"] - OPTIMUM[1])


def plane_history(objective, count, seed, failed=0):
    """`count` uniform random trials on the quadratic (best at OPTIMUM), then `failed` failed ones."""
    rng = np.random.default_rng(seed)
    sign = 1.0 if objective.maximize else -1.0
    records = []
    for i in range(count):
        config = PLANE.sample(rng)
        records.append(TrialRecord(i + 1, config, TrialState.FINISHED, -sign * distance(config) ** 2,
                                   source="random"))
    return records + [TrialRecord(count + i + 1, PLANE.sample(rng), TrialState.FAILED, error="boom")
                      for i in range(failed)]


@pytest.mark.parametrize("param, values", [
    (FloatParam("f", -2.0, 3.0), [-2.0, -1.3, 0.0, 2.71, 3.0]),
    (FloatParam("lf", 1e-5, 10.0, log=True), [1e-5, 3.3e-4, 0.5, 10.0]),
    (IntParam("i", -3, 17), list(range(-3, 18))),
    (IntParam("li", 1, 4096, log=True), [1, 2, 3, 7, 64, 1000, 4095, 4096]),
    (OrdinalParam("o", (16, 32, 64, 128, 256)), [16, 32, 64, 128, 256]),
    (OrdinalParam("os", ("small", "medium", "large")), ["small", "medium", "large"]),
])
def test_from_unit_inverts_to_unit(param, values):
    for value in values:
        back = from_unit(param, param.to_unit(value))
        assert back == (value if isinstance(value, str) else pytest.approx(value, rel=1e-9))
        assert type(back) is type(value)
    # Outside [0, 1] it stays at the bounds.
    low, high = (param.choices[0], param.choices[-1]) if isinstance(param, OrdinalParam) else (param.low, param.high)
    assert from_unit(param, -0.5) == pytest.approx(low) and from_unit(param, 1.5) == pytest.approx(high)
    assert param.validate(from_unit(param, 1.5)) is not None


@pytest.mark.parametrize("unit", [0.0, 0.2, 0.5, 0.77, 1.0])
def test_from_unit_is_monotone_on_the_parameters_own_scale(unit):
    lf = FloatParam("lf", 1e-4, 1.0, log=True)
    assert from_unit(lf, unit) == pytest.approx(10 ** (-4 + 4 * unit))
    assert from_unit(FloatParam("f", 0.0, 10.0), unit) == pytest.approx(10 * unit)


def test_neighbours_stay_inside_the_space_and_move_one_to_three_parameters():
    rng = np.random.default_rng(0)
    config = MIXED.sample(rng)
    original = dict(config)
    moves = []
    for _ in range(300):
        moved = neighbour(MIXED, config, rng)
        assert MIXED.validate(moved) == moved  # inside, and of each parameter's type
        assert all(type(moved[n]) is type(config[n]) for n in MIXED.names)
        moves.append(sum(moved[n] != config[n] for n in MIXED.names))
    # An integer's small step or a redrawn choice may land where it was: at most three move, mostly one or more.
    assert max(moves) == 3 and np.mean([m > 0 for m in moves]) > 0.75
    assert config == original  # the incumbent itself is left alone


def test_neighbours_of_a_continuous_config_move_one_two_or_three_parameters_a_little():
    space = SearchSpace([FloatParam(f"p{i}", 0.0, 1.0) for i in range(6)])
    config = {f"p{i}": 0.5 for i in range(6)}
    rng = np.random.default_rng(1)
    counts, steps = {1: 0, 2: 0, 3: 0}, []
    for _ in range(600):
        moved = neighbour(space, config, rng)
        changed = [n for n in space.names if moved[n] != config[n]]
        counts[len(changed)] += 1  # KeyError for 0 or more than 3
        steps += [abs(moved[n] - config[n]) for n in changed]
    assert min(counts.values()) > 100  # each of 1, 2 and 3 is common
    assert np.mean(steps) < 0.15  # a small step (STEP's scale), not a redraw (0.25 on average)


def test_neighbours_at_a_bound_are_clipped_into_the_space():
    space = SearchSpace([FloatParam("x", 0.0, 1.0), IntParam("n", 1, 3)])
    rng = np.random.default_rng(2)
    for config in ({"x": 0.0, "n": 1}, {"x": 1.0, "n": 3}):
        for _ in range(100):
            assert space.validate(neighbour(space, config, rng))


@pytest.mark.parametrize("finished", [0, 1, 2])
def test_with_too_few_finished_trials_the_proposals_are_random(finished):
    objective = Objective("score", "minimize")
    history = plane_history(objective, finished, seed=3, failed=2)
    proposals = GPProposer(objective, seed=0).propose(PLANE, history, 4)
    assert [p.source for p in proposals] == ["random"] * 4
    assert all("too few finished trials" in p.rationale for p in proposals)
    keys = {PLANE.key(p.params) for p in proposals}
    assert len(keys) == 4 and not keys & tried_keys(PLANE, history)


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
@pytest.mark.parametrize("seed", range(3))
def test_the_proposals_have_the_greatest_expected_improvement_of_the_pool(direction, seed):
    objective = Objective("score", direction)
    history = plane_history(objective, 10, seed, failed=1)
    gp = GPProposer(objective, seed)
    proposals = gp.propose(PLANE, history, 3)
    assert [p.source for p in proposals] == ["gp"] * 3
    keys = [PLANE.key(p.params) for p in proposals]
    assert len(set(keys)) == 3 and not set(keys) & tried_keys(PLANE, history)
    # The pool it drew from, rebuilt: the same generator.
    pool = gp.pool(PLANE, history, history_rng(seed, history, salt=2))
    pool_scores = expected_improvement(PLANE, history, objective, pool)
    scores = expected_improvement(PLANE, history, objective, [p.params for p in proposals])
    top = sorted(pool_scores, reverse=True)[:3]
    assert scores == pytest.approx(top)  # best first
    fresh = {PLANE.key(c) for c in pool} - tried_keys(PLANE, history)
    assert f"among {len(fresh)} candidates, fitted on 10 finished trials" in proposals[0].rationale


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_after_eight_random_trials_the_proposal_is_closer_to_the_optimum_than_a_random_draw(direction):
    objective = Objective("score", direction)
    seeds = range(5)
    found = []
    for seed in seeds:
        history = plane_history(objective, 8, seed)
        (proposal,) = GPProposer(objective, seed).propose(PLANE, history, 1)
        assert proposal.source == "gp"
        found.append(distance(proposal.params))
    # A uniform draw is 0.45 from the optimum on average; the mean of five draws is below 0.25 in about 1%
    # of cases.
    rng = np.random.default_rng(99)
    uniform = np.mean([distance(PLANE.sample(rng)) for _ in range(20000)])
    assert uniform == pytest.approx(0.45, abs=0.01)
    assert np.mean(found) < 0.25


def test_a_fully_tried_finite_space_is_exhausted():
    tiny = SearchSpace([CategoricalParam("a", ("x", "y")), IntParam("b", 0, 1)])
    configs = [{"a": a, "b": b} for a in ("x", "y") for b in (0, 1)]
    objective = Objective("score")
    for done in (1, 3):  # before the surrogate fits, and after
        history = [TrialRecord(i + 1, c, TrialState.FINISHED, float(i)) for i, c in enumerate(configs)]
        history = history[:done] + [TrialRecord(i + 1, c, TrialState.RUNNING) for i, c in
                                    enumerate(configs) if i >= done]
        with pytest.raises(SpaceExhausted, match="gp: 0 untried configurations"):
            GPProposer(objective).propose(tiny, history, 1)


def test_the_last_untried_configuration_of_a_finite_space_is_found():
    tiny = SearchSpace([CategoricalParam("a", ("x", "y")), IntParam("b", 0, 1)])
    history = [TrialRecord(i + 1, {"a": a, "b": b}, TrialState.FINISHED, float(i))
               for i, (a, b) in enumerate([("x", 0), ("x", 1), ("y", 0)])]
    objective = Objective("score")
    (proposal,) = GPProposer(objective).propose(tiny, history, 1)
    assert proposal.params == {"a": "y", "b": 1} and proposal.source == "gp"
    with pytest.raises(SpaceExhausted):
        GPProposer(objective).propose(tiny, history, 2)
