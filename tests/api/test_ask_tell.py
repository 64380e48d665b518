"""ask()/tell(): the user's own loop trains; the study proposes, records, analyses and prunes as tune does."""

import time

import pytest

import agenthpo
from agenthpo import names
from agenthpo.trial import TrialState

SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0}}


def make(sqlite_uri, name="loop", **fields):
    fields = {"space": SPACE, "objective": {"metric": "score", "direction": "maximize"}, "proposer": "random",
              "budget": {"trials": 3}, "tracking_uri": sqlite_uri, "seed": 3, **fields}
    return agenthpo.create_study(name=name, **fields)


def test_ask_then_tell_records_each_kind_of_end(sqlite_uri):
    study = make(sqlite_uri)
    first = study.ask()
    assert first.number == 1 and set(first.params) == {"x"} and first.source == "random"
    with pytest.raises(TypeError):
        first.params["x"] = 2.0  # what was proposed is what is recorded
    assert study.trials[0].state == TrialState.RUNNING
    first.report(1, loss=0.5)
    first.report(2, loss=0.25)
    recorded = study.tell(first, {"score": 0.9, "loss": 0.25})
    assert recorded.state == TrialState.FINISHED and recorded.value == 0.9 and recorded.facts["verdict"]
    assert study.store.curves(first.trial_id) == {"loss": [(1, 0.5), (2, 0.25)]}

    second = study.ask()
    failed = study.tell(second, state="failed", error="ValueError: diverged\nat epoch 3")
    assert failed.state == TrialState.FAILED and failed.error == "ValueError: diverged"

    third = study.ask()
    pruned = study.tell(third, state="pruned")
    assert pruned.state == TrialState.PRUNED and pruned.pruned_reason == "stopped by the user's loop at step 0"
    with pytest.raises(agenthpo.StudyStopped, match="budget of 3 trials used"):
        study.ask()
    assert study.best_trial.number == 1


def test_bad_tells_are_refused_and_nothing_is_recorded(sqlite_uri):
    study = make(sqlite_uri)
    trial = study.ask()
    with pytest.raises(ValueError, match="state='done'"):
        study.tell(trial, 0.5, state="done")
    with pytest.raises(TypeError, match="returned 'loss'"):
        study.tell(trial, {"loss": "low"})
    with pytest.raises(ValueError, match="no 'score'"):
        study.tell(trial, {"loss": 0.1})
    with pytest.raises(ValueError, match="finite"):
        study.tell(trial, float("nan"))
    assert study.trials[0].state == TrialState.RUNNING  # still open: it can be told properly
    study.tell(trial, 0.5)
    with pytest.raises(RuntimeError, match="told already"):
        study.tell(trial, 0.6)
    with pytest.raises(RuntimeError, match="told already"):
        trial.report(3, loss=1.0)
    other = make(sqlite_uri, name="other")
    foreign = other.ask()
    with pytest.raises(ValueError, match="this study's ask"):
        study.tell(foreign, 0.1)
    assert [t.value for t in study.trials] == [0.5]


def test_the_pruner_decides_at_report_and_tell_records_its_reason(sqlite_uri):
    study = make(sqlite_uri, budget={"trials": 4},
                 pruner={"name": "median", "n_startup_trials": 1, "n_warmup_steps": 0, "metric": "loss",
                         "direction": "minimize"})
    good = study.ask()
    for step in (1, 2, 3):
        good.report(step, loss=1.0 / step)
    assert not good.should_prune()
    study.tell(good, 0.9)
    bad = study.ask()
    bad.report(1, loss=5.0)
    assert bad.should_prune()
    recorded = study.tell(bad, state="pruned")
    assert recorded.state == TrialState.PRUNED and recorded.pruned_step == 1
    assert "loss 5" in recorded.pruned_reason and "median" in recorded.pruned_reason
    assert recorded.state.counts_against_budget and study.trials[1].state != TrialState.FAILED


def test_an_asha_stop_in_the_user_s_loop_records_the_rungs_it_competed_at(sqlite_uri):
    study = make(sqlite_uri, budget={"trials": 4},
                 pruner={"name": "asha", "reduction_factor": 3, "metric": "loss", "direction": "minimize"})
    good = study.ask()
    for step in (10, 20, 30):  # the loop reports every 10 steps: its first report passes rungs 1, 3 and 9
        good.report(step, loss=1.0 / step)
    assert not good.should_prune()
    study.tell(good, 0.9)
    bad = study.ask()
    bad.report(10, loss=5.0)  # the second at rung 0 (step 1) goes on only as the best there
    assert bad.should_prune()
    recorded = study.tell(bad, state="pruned")
    assert recorded.pruned_step == 10 and "(rung 0)" in recorded.pruned_reason
    assert study.store.client.get_run(recorded.run_id).data.tags[names.PRUNED_RUNGS] == "1"


def test_an_asked_trial_beats_until_it_is_told(sqlite_uri, monkeypatch):
    monkeypatch.setenv("AGENTHPO_HEARTBEAT_SECONDS", "0.2")
    study = make(sqlite_uri)
    trial = study.ask()

    def beats(seconds: float) -> set:
        seen, end = set(), time.monotonic() + seconds
        while time.monotonic() < end:
            seen.add(study.store.client.get_run(trial.trial_id).data.tags.get(names.HEARTBEAT))
            time.sleep(0.05)
        return seen - {None}

    assert len(beats(1.0)) >= 2  # the trial is alive while the user's loop trains it
    study.tell(trial, 0.3)
    time.sleep(0.3)  # a beat already on its way may still land
    assert len(beats(0.8)) == 1
