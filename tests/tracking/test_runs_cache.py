"""History reads cost O(new or changed trials): a store reads each settled trial run and each claim once,
and still sees every change a fresh store sees (new trials, ends, analyses, slots given back, claims)."""

import pytest
from agenthpo.tracking import MlflowStudyStore
from agenthpo.tracking.runs_cache import CLOCK_SLACK_MS, ClaimsSeen, TrialRuns
from conftest import quadratic_spec

from agenthpo.spec import parse_spec
from agenthpo.trial import Proposal, TrialState


@pytest.fixture
def setup(sqlite_uri):
    spec = parse_spec(quadratic_spec(sqlite_uri), base_dir=None)
    store = MlflowStudyStore(sqlite_uri)
    return spec, store, store.open_study(spec)


def finished(store, study_id, x: float, analysed: bool = True) -> str:
    claim = store.claim_trial(study_id, Proposal({"x": x, "epochs": 2}, "random"), budget=None)
    store.finish_trial(claim.trial_id, 1 - x, {"score": 1 - x}, {}, 0.1, None)
    if analysed:
        store.write_analysis(claim.trial_id, {"verdict": "ok"}, "fine")
    return claim.trial_id


def same_as_fresh(store, sqlite_uri, study_id) -> list:
    seen = store.history(study_id)
    assert seen == MlflowStudyStore(sqlite_uri).history(study_id)
    return seen


def test_settled_trials_are_read_once_and_changes_are_seen(setup, sqlite_uri):
    _, store, study_id = setup
    for x in (0.1, 0.2, 0.3):
        finished(store, study_id, x)
    assert len(same_as_fresh(store, sqlite_uri, study_id)) == 3
    view = store._runs[study_id]
    before = view.read
    store.history(study_id)
    # Only the runs started within the clock slack are read again: here all three (just made).
    assert view.read - before <= 3 and set(view.settled) == {t.run_id for t in store.history(study_id)}

    running = store.claim_trial(study_id, Proposal({"x": 0.5, "epochs": 2}, "random"), budget=None)
    assert [t.state for t in same_as_fresh(store, sqlite_uri, study_id)][-1] == TrialState.RUNNING
    store.finish_trial(running.trial_id, 0.5, {"score": 0.5}, {}, 0.1, None)
    assert same_as_fresh(store, sqlite_uri, study_id)[-1].state == TrialState.FINISHED
    assert running.trial_id in view.unsettled  # ended, but its analysis is still to come
    store.write_analysis(running.trial_id, {"verdict": "ok"}, "fine")
    assert same_as_fresh(store, sqlite_uri, study_id)[-1].facts == {"verdict": "ok"}
    assert running.trial_id in view.settled


def test_runs_older_than_the_slack_are_not_read_again(setup, sqlite_uri):
    _, store, study_id = setup
    old = finished(store, study_id, 0.1)
    unanalysed = finished(store, study_id, 0.2, analysed=False)
    store.history(study_id)
    view = store._runs[study_id]
    # As if both had started long ago: a look now reads only the run that has not settled.
    view.newest += 10 * CLOCK_SLACK_MS
    before = view.read
    assert [t.run_id for t in store.history(study_id)] == [old, unanalysed]
    assert view.read - before == 1


def test_a_slot_given_back_drops_out(setup, sqlite_uri):
    _, store, study_id = setup
    finished(store, study_id, 0.1)
    store.history(study_id)
    refused = store.claim_trial(study_id, Proposal({"x": 0.4, "epochs": 2}, "random"), budget=1)
    assert not refused.granted
    assert len(same_as_fresh(store, sqlite_uri, study_id)) == 1
    assert store.slots_held(study_id) == MlflowStudyStore(sqlite_uri).slots_held(study_id) == 1


def test_slots_are_counted_from_records_kept_for_settled_runs_only(setup, sqlite_uri):
    _, store, study_id = setup
    done = finished(store, study_id, 0.1)
    running = store.claim_trial(study_id, Proposal({"x": 0.4, "epochs": 2}, "random"), budget=None)
    assert store.slots_held(study_id) == 2 and set(store._records) == {done}
    store.mark_interrupted(running.trial_id, "test")  # a running trial's state is read at every look
    assert store.slots_held(study_id) == MlflowStudyStore(sqlite_uri).slots_held(study_id) == 1
    store.forget(study_id)
    assert not store._records and store.slots_held(study_id) == 1


def test_an_interrupted_trial_is_never_settled(setup, sqlite_uri):
    _, store, study_id = setup
    claim = store.claim_trial(study_id, Proposal({"x": 0.4, "epochs": 2}, "random"), budget=None)
    store.history(study_id)
    store.mark_interrupted(claim.trial_id, "test")
    store.write_analysis(claim.trial_id, {"verdict": "ok"}, "late")
    assert same_as_fresh(store, sqlite_uri, study_id)[0].state == TrialState.INTERRUPTED
    assert claim.trial_id in store._runs[study_id].unsettled


def test_claims_are_read_once_and_new_ones_seen(setup, sqlite_uri):
    _, store, study_id = setup
    finished(store, study_id, 0.1)
    assert store.book.trial_claims(study_id) == MlflowStudyStore(sqlite_uri).book.trial_claims(study_id)
    second = finished(store, study_id, 0.2)
    assert store.book.trial_claims(study_id)[2] == second


def test_the_views_ask_only_for_what_is_new():
    class Run:
        def __init__(self, run_id, start, state="FINISHED", analysed=True):
            self.info = type("Info", (), {"run_id": run_id, "start_time": start, "lifecycle_stage": "active"})
            tags = {"agenthpo.state": state, **({"agenthpo.analysis": "{}"} if analysed else {})}
            self.data = type("Data", (), {"tags": tags})

    asked, runs = [], {"a": Run("a", 1_000_000), "b": Run("b", 1_000_500, "RUNNING", analysed=False)}
    view = TrialRuns()

    def search(since):
        asked.append(since)
        return [r for r in runs.values() if since is None or r.info.start_time >= since]

    assert {r.info.run_id for r in view.refresh(search, runs.get)} == {"a", "b"}
    runs["b"] = Run("b", 1_000_500)
    assert {r.info.run_id for r in view.refresh(search, runs.get)} == {"a", "b"}
    assert asked == [None, 1_000_500 - CLOCK_SLACK_MS] and set(view.settled) == {"a", "b"}

    claims, seen, asked = {1: "a"}, ClaimsSeen(), []

    def lookup(number):
        asked.append(number)
        return claims.get(number)

    assert seen.refresh(lambda: list(claims.items()), lookup) == {1: "a"}
    claims.update({2: "b", 3: "c"})
    assert seen.refresh(lambda: pytest.fail("listed again"), lookup) == {1: "a", 2: "b", 3: "c"}
    assert asked == [2, 2, 3, 4]  # after the first listing, only the numbers past the highest seen
