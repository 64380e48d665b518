"""Each store write that changes what a trial shows announces it, after the write (the display reads then)."""

import pytest
from agenthpo.tracking import MlflowStudyStore
from conftest import quadratic_spec

from agenthpo.spec import parse_spec
from agenthpo.trial import Proposal, TrialState
from agenthpo.trial_events import EVENTS_ENV


@pytest.fixture
def setup(sqlite_uri, tmp_path, monkeypatch):
    events = tmp_path / "events"
    monkeypatch.setenv(EVENTS_ENV, str(events))
    store = MlflowStudyStore(sqlite_uri)
    return store, store.open_study(parse_spec(quadratic_spec(sqlite_uri), base_dir=None)), events


def lines(events) -> list[str]:
    return events.read_text().splitlines() if events.exists() else []


def test_finish_analysis_failure_stop_and_interruption_are_announced(setup):
    store, study_id, events = setup
    first = store.start_trial(study_id, 1, Proposal({"x": 0.2, "epochs": 2}, "random"))
    assert lines(events) == []  # an opened trial shows nothing yet
    store.finish_trial(first, 0.5, {"score": 0.5}, {}, 1.0, None)
    assert lines(events) == [f"{first} finished"]
    assert store.trial(first).state == TrialState.FINISHED  # written before the announcement
    store.write_analysis(first, {"verdict": "ok"}, "fine")
    second = store.start_trial(study_id, 2, Proposal({"x": 0.4, "epochs": 2}, "random"))
    store.fail_trial(second, "RuntimeError: boom", {}, 0.1)
    third = store.start_trial(study_id, 3, Proposal({"x": 0.6, "epochs": 2}, "random"))
    store.prune_trial(third, 1, "below the median", {"loss": [(1, 2.0)]}, 0.3, None, {})
    fourth = store.start_trial(study_id, 4, Proposal({"x": 0.8, "epochs": 2}, "random"))
    assert store.mark_interrupted(fourth, "the driver was stopped")
    assert lines(events) == [f"{first} finished", f"{first} analysed", f"{second} failed", f"{third} pruned",
                             f"{fourth} interrupted"]


def test_a_late_result_is_not_announced(setup):
    store, study_id, events = setup
    trial_id = store.start_trial(study_id, 1, Proposal({"x": 0.2, "epochs": 2}, "random"))
    store.mark_interrupted(trial_id, "the driver was stopped")
    store.finish_trial(trial_id, 0.5, {"score": 0.5}, {}, 1.0, None)  # kept as information only
    assert lines(events) == [f"{trial_id} interrupted"]
