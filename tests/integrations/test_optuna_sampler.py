"""AgentSampler inside plain Optuna studies. The first cases are adapted from Optuna's own expectations for
samplers (optuna/tests/samplers_tests/test_samplers.py: bounds and grids per distribution, categorical
types, NaN objectives, partial fixed sampling, dynamic ranges, conditional parameters, reproducibility,
reseeding, multi-objective refusal); the last run the agent's Creator against a scripted endpoint."""

import math

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from scripted_llm import ScriptedLLM

from agenthpo.integrations.optuna import AgentSampler
from agenthpo.integrations.optuna_space import RATIONALE_ATTR, SOURCE_ATTR

optuna.logging.set_verbosity(optuna.logging.WARNING)
TRIALS = 8  # the first is random (no space known yet); from the second the proposer samples


def tpe_sampler(seed=0):
    return AgentSampler(proposer="tpe", seed=seed)


def sampled(sampler, distribution, trials=TRIALS):
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: float(np.sum(t._suggest("x", distribution))) if not isinstance(
        distribution, CategoricalDistribution) else float(distribution.choices.index(t._suggest("x", distribution))),
        n_trials=trials)
    return study, [t.params["x"] for t in study.trials]


@pytest.mark.parametrize("distribution", [
    FloatDistribution(-1.0, 1.0), FloatDistribution(1e-7, 1.0, log=True), FloatDistribution(-10.0, 10.0, step=0.1),
    FloatDistribution(-10.2, 10.2, step=0.1), FloatDistribution(0.0, 1.0, step=0.25),
])
def test_float(distribution):
    study, points = sampled(tpe_sampler(), distribution)
    assert all(distribution.low <= p <= distribution.high and isinstance(p, float) for p in points)
    if distribution.step is not None:
        grid = np.round((np.array(points) - distribution.low) / distribution.step)
        np.testing.assert_allclose(distribution.low + grid * distribution.step, points, atol=1e-9)
    assert {t.user_attrs[SOURCE_ATTR] for t in study.trials[1:]} == {"tpe"}


@pytest.mark.parametrize("distribution", [
    IntDistribution(-10, 10), IntDistribution(1, 1000, log=True), IntDistribution(-10, 10, step=2),
    IntDistribution(0, 9, step=3),
])
def test_int(distribution):
    _, points = sampled(tpe_sampler(), distribution)
    assert all(distribution.low <= p <= distribution.high and isinstance(p, int) for p in points)
    assert all((p - distribution.low) % distribution.step == 0 for p in points)


@pytest.mark.parametrize("choices", [(1, 2, 3), ("a", "b", "c"), (1.5, 2.5), (True, False), ("a", 1, 2.5, True)])
def test_categorical(choices):
    _, points = sampled(tpe_sampler(), CategoricalDistribution(choices))
    assert all(any(p == c and type(p) is type(c) for c in choices) for p in points)


def test_a_single_value_distribution_is_that_value():
    _, points = sampled(tpe_sampler(), FloatDistribution(2.0, 2.0))
    assert points == [2.0] * TRIALS


def test_nan_objective_values_fail_their_trials_and_sampling_goes_on():
    def objective(trial):
        x = trial.suggest_float("x", -1.0, 1.0)
        return float("nan") if trial.number % 2 else x * x

    study = optuna.create_study(sampler=tpe_sampler())
    study.optimize(objective, n_trials=10)
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.FAIL) == 5 and len(states) == 10
    assert all(-1.0 <= t.params["x"] <= 1.0 for t in study.trials)


def test_partial_fixed_sampling():
    sampler = optuna.samplers.PartialFixedSampler({"y": 0.5}, tpe_sampler())
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2 + t.suggest_float("y", 0, 1), n_trials=8)
    assert {t.params["y"] for t in study.trials} == {0.5}
    assert len({t.params["x"] for t in study.trials}) == 8


def test_dynamic_range_objective():
    def objective(trial):
        high = 5 + trial.number  # a range that grows trial by trial
        return float(trial.suggest_int("n", 0, high)) + trial.suggest_float("x", -high, high) ** 2

    study = optuna.create_study(sampler=tpe_sampler())
    study.optimize(objective, n_trials=8)
    for trial in study.trials:
        high = 5 + trial.number
        assert 0 <= trial.params["n"] <= high and -high <= trial.params["x"] <= high


def test_conditional_parameters_are_sampled_independently():
    def objective(trial):
        kind = trial.suggest_categorical("kind", ["linear", "tree"])
        if kind == "linear":
            return trial.suggest_float("alpha", 1e-4, 1.0, log=True)
        return float(trial.suggest_int("depth", 1, 8))

    study = optuna.create_study(sampler=tpe_sampler())
    study.optimize(objective, n_trials=12)
    for trial in study.trials:
        assert set(trial.params) in ({"kind", "alpha"}, {"kind", "depth"})


def test_enqueued_trials_keep_their_values():
    study = optuna.create_study(sampler=tpe_sampler())
    study.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=3)
    study.enqueue_trial({"x": 0.123})
    study.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=1)
    assert study.trials[-1].params["x"] == 0.123


def _params(seed, reseed=False):
    sampler = tpe_sampler(seed)
    if reseed:
        sampler.reseed_rng()
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: t.suggest_float("x", -5, 5) ** 2 + t.suggest_int("n", 0, 9), n_trials=8)
    return [tuple(sorted(t.params.items())) for t in study.trials]


def test_the_same_seed_gives_the_same_trials_and_reseeding_changes_them():
    assert _params(3) == _params(3)
    assert _params(3) != _params(4)
    assert _params(3, reseed=True) != _params(3)


def test_multi_objective_studies_are_refused():
    study = optuna.create_study(directions=["minimize", "maximize"], sampler=tpe_sampler())
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1)), n_trials=1)
    with pytest.raises(ValueError, match="single-objective"):
        study.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1)), n_trials=1, catch=())


def test_an_unknown_proposer_or_bad_llm_field_is_refused_when_built():
    with pytest.raises(ValueError, match="proposer='tpee'"):
        AgentSampler(proposer="tpee")
    with pytest.raises(ValueError, match="temperature"):
        AgentSampler(llm={"temperature": "hot"})


# -- the Creator, through a scripted OpenAI-compatible endpoint -------------------------------------------------
def test_the_agent_proposes_in_an_optuna_study_and_says_why():
    with ScriptedLLM() as server:
        sampler = AgentSampler(description="A quadratic bowl; the best x is near 0.3.", seed=0,
                               llm={"base_url": server.base_url, "model": "scripted", "max_retries": 0})
        study = optuna.create_study(direction="minimize", sampler=sampler)
        study.optimize(lambda t: (t.suggest_float("x", 0.0, 1.0) - 0.3) ** 2 + t.suggest_int("n", 1, 4) * 0.01,
                       n_trials=6)
        prompts = [m["content"] for r in server.requests for m in r.get("messages", []) if m["role"] == "user"]
    trials = study.trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 6
    sources = [t.user_attrs[SOURCE_ATTR] for t in trials]
    assert sources[0] == "random" and set(sources[1:]) <= {"llm", "tpe", "gp", "fallback"}
    assert "llm" in sources  # the hedge asks the Creator at first
    creator = next(t for t in trials if t.user_attrs[SOURCE_ATTR] == "llm")
    assert creator.user_attrs[RATIONALE_ATTR].startswith("scripted rationale")
    assert any("A quadratic bowl" in p for p in prompts)  # the description reaches the Creator
    assert all(0.0 <= t.params["x"] <= 1.0 and 1 <= t.params["n"] <= 4 for t in trials)
    assert math.isfinite(study.best_value)
