import numpy as np
import pytest

from agenthpo.report import build_report, influences, spearman
from agenthpo.space import CategoricalParam, FloatParam, IntParam, SearchSpace
from agenthpo.trial import Objective, TrialRecord, TrialState

SPACE = SearchSpace([FloatParam("lr", 1e-4, 1.0, log=True), IntParam("noise", 0, 100),
                     CategoricalParam("act", ("relu", "tanh"))])


def history(direction_sign=1.0):
    rng = np.random.default_rng(0)
    trials = []
    for i in range(20):
        p = SPACE.sample(rng)
        value = direction_sign * (np.log10(p["lr"]) + (3.0 if p["act"] == "relu" else 0.0))
        trials.append(TrialRecord(i + 1, p, TrialState.FINISHED, float(value), source="random"))
    trials.append(TrialRecord(21, SPACE.sample(rng), TrialState.FAILED, error="RuntimeError: out of memory"))
    return trials


def test_spearman():
    x = np.arange(10.0)
    assert spearman(x, x**3) == pytest.approx(1.0) and spearman(x, -x) == pytest.approx(-1.0)
    assert spearman(x, np.ones(10)) == 0.0


def test_influence_finds_the_parameters_that_matter_with_their_direction():
    found = {i.param: i for i in influences(SPACE, history(), Objective("score", "maximize"))}
    assert found["lr"].value > 0.4  # larger lr did better
    assert found["act"].value > 0.2  # the choice matters
    assert abs(found["noise"].value) < found["lr"].value
    flipped = {i.param: i for i in influences(SPACE, history(-1.0), Objective("loss", "minimize"))}
    assert flipped["lr"].value > 0.4  # still "larger is better" once the direction is accounted for


def test_report_markdown():
    text = build_report("demo", SPACE, history(), Objective("score", "maximize"))
    assert "# Study `demo`" in text and "20 finished, 1 failed" in text
    assert "## Best: trial" in text and "larger values did better" in text
    assert text.count("| FINISHED |") == 20 and "RuntimeError: out of memory" in text
    short = build_report("demo", SPACE, history()[:2], Objective("score", "maximize"))
    assert "Too few finished trials" in short
    empty = build_report("demo", SPACE, [], Objective("score", "maximize"), stop_reason="3 trials failed")
    assert "No trial finished" in empty and "Stopped early" in empty


def test_the_best_trial_s_trajectory_reads_as_sentences():
    import dataclasses

    trials = history()
    best = max((t for t in trials if t.finished), key=lambda t: t.value)
    facts = {"verdict": "converged", "advice": "the curve has flattened: gains must come from elsewhere"}
    trials = [dataclasses.replace(t, facts=facts) if t is best else t for t in trials]
    text = build_report("demo", SPACE, trials, Objective("score", "maximize"))
    assert "Its training trajectory: converged. The curve has flattened: gains must come from elsewhere.\n" in text
    bare = [dataclasses.replace(t, facts={"verdict": "no curve"}) if t.number == best.number else t for t in trials]
    assert "Its training trajectory: no curve.\n" in build_report("demo", SPACE, bare, Objective("score", "maximize"))
