"""The in-memory StudyStore (tests/helpers/memory_store.py): whole studies in milliseconds, no MLflow.

Checked through what the store records (its history), as the proposers and the report read it.
"""

import inspect
import time

import pytest
from conftest import quadratic_spec
from memory_store import MemoryStudyStore

from agenthpo import names, study
from agenthpo.spec import parse_spec
from agenthpo.study import StudyStore
from agenthpo.trial import Proposal, TrialState


def make(**overrides):
    spec = parse_spec(quadratic_spec("sqlite:///never-used.db", **overrides), base_dir=None)
    store = MemoryStudyStore()
    study.open_study(spec, store)
    return spec, store, store.find_study(spec.name)


def test_it_implements_the_study_store_protocol():
    for name, method in inspect.getmembers(StudyStore, inspect.isfunction):
        if name.startswith("_"):
            continue
        ours = getattr(MemoryStudyStore, name, None)
        assert ours is not None, f"MemoryStudyStore lacks {name}"
        assert list(inspect.signature(ours).parameters) == list(inspect.signature(method).parameters), name


def test_a_study_runs_to_its_budget_and_every_trial_is_recorded():
    spec, store, study_id = make(budget={"trials": 4, "max_failed_trials": 3})
    study.run_inprocess(spec, store, study_id)
    history = store.history(study_id)
    assert [t.number for t in history] == [1, 2, 3, 4]
    assert all(t.state == TrialState.FINISHED and t.source == "random" and t.repair == "" for t in history)
    assert len({spec.space.key(t.params) for t in history}) == 4
    for trial in history:
        assert trial.value == pytest.approx(1 - (trial.params["x"] - 0.3) ** 2)
        assert trial.metrics["score"] == trial.value and trial.train_seconds == trial.metrics[names.TRAIN_SECONDS] >= 0
        assert trial.facts["verdict"] and trial.run_id in store.runs
        curves = store.curves(trial.run_id)
        assert [s for s, _ in curves["train_loss"]] == list(range(1, trial.params["epochs"] + 1))
        assert trial.metrics["train_loss"] == curves["train_loss"][-1][1]  # the latest point, as MLflow's
        run = store.runs[trial.run_id]
        assert run.note.startswith("**Creator (random):** uniform random draw") and run.plot
    assert store.study(study_id).status == "RUNNING"  # until the report


def test_rounds_of_parallel_trials_are_numbered_and_distinct():
    spec, store, study_id = make(parallel=2, budget={"trials": 5, "max_failed_trials": 3})
    study.run_inprocess(spec, store, study_id)
    history = store.history(study_id)
    assert [t.number for t in history] == [1, 2, 3, 4, 5] and all(t.finished for t in history)
    assert len({spec.space.key(t.params) for t in history}) == 5


def test_crashed_trials_are_failed_with_their_error_and_the_study_stops_at_max_failed():
    spec, store, study_id = make(task_options={"raise_above": -1.0}, budget={"trials": 6, "max_failed_trials": 2})
    study.run_inprocess(spec, store, study_id)
    history = store.history(study_id)
    assert [t.state for t in history] == [TrialState.FAILED] * 2
    for trial in history:
        assert trial.value is None and trial.error.startswith("RuntimeError: injected failure at x=")
        assert "Traceback" in store.runs[trial.run_id].error  # the full text is kept, the record has line one
        assert trial.facts == {"verdict": "failed"} and trial.train_seconds is not None
    kind, reason = study.stop_reason(spec, history)
    assert kind is not None and "2 trials failed" in reason


def test_a_nan_objective_is_a_failed_trial():
    spec, store, study_id = make(task_options={"nan_above": -1.0}, budget={"trials": 1, "max_failed_trials": 3})
    study.run_inprocess(spec, store, study_id)
    (trial,) = store.history(study_id)
    assert trial.state == TrialState.FAILED and "not a finite number" in trial.error


def test_resuming_interrupts_stale_running_trials_which_do_not_count():
    spec, store, study_id = make(budget={"trials": 2, "max_failed_trials": 3})
    store.start_trial(study_id, 1, Proposal({"x": 0.5, "epochs": 2}, "random", "killed mid-training"))
    assert store.open_study(spec) == study_id  # found again by name, not a second study
    assert store.history(study_id)[0].state == TrialState.RUNNING  # opened just now: it may be alive
    store.clock = lambda: time.time() + 3600  # an hour later, it never beat: stale
    assert store.open_study(spec) == study_id
    study.run_inprocess(spec, store, study_id)
    history = store.history(study_id)
    assert [(t.number, t.state) for t in history] == [
        (1, TrialState.INTERRUPTED), (2, TrialState.FINISHED), (3, TrialState.FINISHED)]
    assert store.runs[history[0].run_id].note.startswith("**Interrupted**")


def test_the_start_configuration_is_trained_first():
    spec, store, study_id = make(start={"x": 0.3, "epochs": 2})
    study.run_inprocess(spec, store, study_id)
    first, *rest = store.history(study_id)
    assert first.source == "start" and first.params == {"x": 0.3, "epochs": 2} and first.value == 1.0
    assert [t.source for t in rest] == ["random", "random"]


def test_a_proposals_cost_and_tags_are_read_back():
    spec, store, study_id = make()
    proposal = Proposal({"x": 0.1, "epochs": 3}, "llm", "near the best", metrics={"llm/creator_llm_calls": 2.0},
                        tags={"repair": "repaired", "llm_problems": "config 2: x outside [0, 1]"})
    run_id = store.start_trial(study_id, 1, proposal)
    (running,) = store.history(study_id)
    assert (running.state, running.source, running.repair) == (TrialState.RUNNING, "llm", "repaired")
    assert running.metrics == {"llm/creator_llm_calls": 2.0} and store.runs[run_id].rationale == "near the best"
    store.finish_trial(run_id, 0.96, {"score": 0.96, "train_loss": 0.2}, {"train_loss": [(1, 0.5), (2, 0.2)]},
                       1.5, None)
    store.log_metrics(run_id, {"llm/executor_llm_calls": 1.0})
    (done,) = store.history(study_id)
    assert done.value == 0.96 and done.train_seconds == 1.5 and not store.runs[run_id].plot
    # A curve owns its name: the final value goes to final_<name>, as in MLflow.
    assert done.metrics["final_train_loss"] == 0.2 and store.curves(run_id) == {"train_loss": [(1, 0.5), (2, 0.2)]}
    assert done.metrics["llm/creator_llm_calls"] == 2.0 and done.metrics["llm/executor_llm_calls"] == 1.0
    # Records are copies: changing one does not change the store.
    done.params["x"] = 0.9
    assert store.history(study_id)[0].params["x"] == 0.1


def test_the_report_and_the_study_outcome_are_recorded():
    spec, store, study_id = make()
    study.run_inprocess(spec, store, study_id)
    study.report_study(spec, store, study_id)
    recorded = store.study(study_id)
    best = max(t.value for t in store.history(study_id))
    assert recorded.status == "FINISHED" and recorded.stopped == "" and recorded.report_plot
    assert recorded.summary["study/trials_finished"] == 3 and recorded.summary["best_score"] == best
    assert recorded.report.startswith("#")


def test_claims_past_the_budget_are_given_back_and_an_interrupted_slot_is_claimed_again():
    spec, store, study_id = make(budget={"trials": 2, "max_failed_trials": 3})
    claims = [store.claim_trial(study_id, Proposal({"x": i / 10, "epochs": 2}, "random"), 2) for i in range(3)]
    assert [(c.number, c.granted) for c in claims] == [(1, True), (2, True), (3, False)]
    assert store.runs[claims[2].trial_id].deleted and store.slots_held(study_id) == 2
    assert [t.number for t in store.history(study_id)] == [1, 2]
    assert store.mark_interrupted(claims[0].trial_id, "its process stopped")
    again = store.claim_trial(study_id, Proposal({"x": 0.9, "epochs": 2}, "random"), 2)
    assert (again.number, again.granted) == (4, True) and store.slots_held(study_id) == 2
    with pytest.raises(ValueError, match="trial number 2 of study .* is taken"):
        store.start_trial(study_id, 2, Proposal({"x": 0.8, "epochs": 2}, "random"))
