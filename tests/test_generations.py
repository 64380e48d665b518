"""Generations: the data changes between runs of a study; warm starts; transfer from another study.

The study's steps over the in-memory store (tests/helpers/memory_store.py); the MLflow store and the CLI
are in tests/cli/test_tune_generations.py.
"""

import pytest
from conftest import quadratic_spec
from memory_store import MemoryStudyStore

from agenthpo import study
from agenthpo.errors import FieldError
from agenthpo.generations import (
    WARM_START,
    Generation,
    PriorInformed,
    WarmStart,
    as_prior,
    fit_to_space,
    generations_section,
    warm_start_proposals,
)
from agenthpo.proposers import make_proposer
from agenthpo.space import SearchSpace
from agenthpo.spec import parse_spec
from agenthpo.trial import Objective, TrialRecord, TrialState

OBJECTIVE = Objective("score", "maximize")
SPACE = SearchSpace.from_json({"x": {"type": "float", "low": 0.0, "high": 1.0},
                               "epochs": {"type": "int", "low": 2, "high": 5}})


def trial(number, x, value, generation=1, source="random", state=TrialState.FINISHED):
    return TrialRecord(number, {"x": x, "epochs": 3}, state, value if state == TrialState.FINISHED else None,
                       source, generation=generation)


def make_spec(tmp_path, **overrides):
    data = tmp_path / "data.csv"
    if not data.exists():
        data.write_text("x\n1\n")
    return parse_spec(quadratic_spec("sqlite:///never-used.db", data=str(data), **overrides), base_dir=None)


# -- value objects ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("data, path, text", [
    ({"top_k": -1}, "top_k", "-1"), ({"top_k": 1.5}, "top_k", "1.5"), ({"top_k": 101}, "top_k", "101"),
    ({"study": ""}, "study", "''"), ({"topk": 2}, "topk", "unknown"), ("best", "", "'best'"),
])
def test_a_bad_warm_start_is_refused_naming_the_field_and_the_value(data, path, text):
    with pytest.raises(FieldError) as err:
        WarmStart.from_json(data)
    assert err.value.path == path and text in str(err.value)


def test_warm_start_round_trips_and_is_checked_in_the_spec(tmp_path):
    assert WarmStart.from_json(WarmStart(3, "old").to_json()) == WarmStart(3, "old")
    assert WarmStart.from_json(None) == WarmStart(2, None)
    spec = make_spec(tmp_path, warm_start={"top_k": 1})
    assert parse_spec(spec.to_json(), base_dir=None) == spec
    with pytest.raises(FieldError, match=r"warm_start\.study: 'quadratic' is this study"):
        make_spec(tmp_path, warm_start={"study": "quadratic"})


def test_a_generation_goes_on_until_its_fingerprint_changes():
    first = Generation().after("aaa")
    assert first == Generation(1, "aaa") and first.after("aaa") == first
    assert first.after("bbb") == Generation(2, "bbb")


# -- fitting a configuration from another study ----------------------------------------------------------
def test_another_study_s_configuration_is_clipped_dropped_or_completed_with_a_note():
    space = SearchSpace.from_json({"x": {"type": "float", "low": 0.0, "high": 0.5},
                                   "depth": {"type": "int", "low": 2, "high": 8},
                                   "kind": {"type": "categorical", "choices": ["a", "b"]}})
    params, notes = fit_to_space(space, {"x": 0.9, "depth": 11, "kind": "b", "gone": 1})
    assert params == {"x": 0.5, "depth": 8, "kind": "b"}
    assert notes == ["gone dropped (not in this space)", "x clipped from 0.9 to 0.5", "depth clipped from 11 to 8"]
    params, notes = fit_to_space(space, {"x": 0.1, "kind": "a"})
    assert params == {"x": 0.1, "depth": 5, "kind": "a"} and notes == ["depth set to 5 (not in the source)"]
    assert fit_to_space(space, {"x": 0.1, "depth": 3, "kind": "c"}) == (None, ["kind='c' is no longer a choice"])


# -- warm starts -----------------------------------------------------------------------------------------
def test_a_new_generation_retrains_the_previous_best_distinct_configurations_first():
    history = [trial(1, 0.1, 0.5), trial(2, 0.3, 0.9), trial(3, 0.3, 0.8), trial(4, 0.5, 0.7),
               trial(5, 0.9, None, state=TrialState.FAILED)]
    proposals = warm_start_proposals(SPACE, OBJECTIVE, history, 2, top_k=2)
    assert [p.params["x"] for p in proposals] == [0.3, 0.5]  # 0.3 once, though trained twice
    assert all(p.source == WARM_START for p in proposals)
    assert "#1 of generation 1 (trial 2, score=0.9" in proposals[0].rationale
    # One retrained already: the other is left; one interrupted: proposed again.
    done = [*history, trial(6, 0.3, 0.6, generation=2, source=WARM_START),
            trial(7, 0.5, None, generation=2, source=WARM_START, state=TrialState.INTERRUPTED)]
    assert [p.params["x"] for p in warm_start_proposals(SPACE, OBJECTIVE, done, 2, top_k=2)] == [0.5]
    # Once the proposer has opened a trial in the generation, the warm starts are over.
    moved_on = [*history, trial(6, 0.3, 0.6, generation=2, source=WARM_START), trial(7, 0.2, 0.6, 2, "tpe")]
    assert warm_start_proposals(SPACE, OBJECTIVE, moved_on, 2, top_k=2) == []


def test_the_model_sees_the_previous_generation_by_rank_on_the_current_scale():
    prior = [trial(1, 0.1, 10.0), trial(2, 0.3, 30.0), trial(3, 0.5, 20.0)]
    current = [trial(4, 0.2, 0.4, 2), trial(5, 0.4, 0.8, 2)]
    mapped = as_prior(prior, current, OBJECTIVE)
    assert [(t.number, t.value, t.source) for t in mapped] == [(1, 0.4, "prior"), (2, 0.8, "prior"),
                                                                (3, 0.4, "prior")]
    # Too few current values to map onto: the prior's own values, order kept.
    assert [t.value for t in as_prior(prior, current[:1], OBJECTIVE)] == [10.0, 30.0, 20.0]


def test_a_prior_informed_proposer_never_proposes_a_prior_configuration_and_is_seeded():
    prior = [trial(n, n / 20, float(n)) for n in range(1, 11)]
    make = lambda: PriorInformed(make_proposer("tpe", OBJECTIVE, 3, {}), prior, OBJECTIVE)  # noqa: E731
    first = make().propose(SPACE, [], 3)
    assert [p.params for p in first] == [p.params for p in make().propose(SPACE, [], 3)]
    assert not {SPACE.key(p.params) for p in first} & {SPACE.key(t.params) for t in prior}
    assert all(p.source in ("tpe", "random") for p in first)


# -- whole studies over the in-memory store --------------------------------------------------------------
def test_changed_data_begins_a_generation_with_its_own_budget_best_and_warm_starts(tmp_path):
    spec = make_spec(tmp_path, budget={"trials": 4, "max_failed_trials": 3}, proposer="tpe")
    store = MemoryStudyStore()
    opened = study.open_study(spec, store)
    study.run_inprocess(spec, store, opened.study_id)
    first = store.history(opened.study_id)
    assert opened.generation == 1 and [t.generation for t in first] == [1, 1, 1, 1]

    # Unchanged data: the same generation, its budget used, nothing trained.
    again = study.open_study(spec, store)
    assert (again.generation, again.began, again.trials_used) == (1, "", 4)
    study.run_inprocess(spec, store, again.study_id)
    assert len(store.history(again.study_id)) == 4

    (tmp_path / "data.csv").write_text("x\n1\n2\n3\n")  # this week's data
    changed = study.open_study(spec, store)
    assert changed.generation == 2 and changed.trials_used == 0
    assert changed.began.startswith("the data changed since generation 1 (4 trials): generation 2 begins")
    study.run_inprocess(spec, store, changed.study_id)
    history = store.history(changed.study_id)
    second = [t for t in history if t.generation == 2]
    assert [t.number for t in second] == [5, 6, 7, 8]
    best_first = sorted(first, key=lambda t: -t.value)[:2]
    assert [(t.source, dict(t.params)) for t in second[:2]] == [(WARM_START, dict(b.params)) for b in best_first]
    assert all(t.source != WARM_START for t in second[2:])

    reported = study.report_study(spec, store, changed.study_id)
    assert reported.best.number in {t.number for t in second}  # never a value from the old data
    assert reported.summary["study/trials_finished"] == 4
    section = reported.markdown.split("## Generations")[1]
    assert "| 1 | 4 |" in section and "| 2 | 4 |" in section and "How the best moved:" in section
    assert f"generation 1's best (trial {best_first[0].number}" in section
    assert [g.number for g, _ in store.studies[changed.study_id].generations] == [1, 2]


def test_a_new_study_starts_from_another_study_s_best_fitted_into_its_space(tmp_path):
    store = MemoryStudyStore()
    old = make_spec(tmp_path, name="last-year", budget={"trials": 3, "max_failed_trials": 3})
    opened = study.open_study(old, store)
    study.run_inprocess(old, store, opened.study_id)
    best = sorted(store.history(opened.study_id), key=lambda t: -t.value)[:2]

    narrower = {"x": {"type": "float", "low": 0.0, "high": 0.2}, "epochs": {"type": "int", "low": 2, "high": 5}}
    new = make_spec(tmp_path, name="this-year", space=narrower, budget={"trials": 3, "max_failed_trials": 3},
                    warm_start={"study": "last-year", "top_k": 2})
    started = study.open_study(new, store)
    study.run_inprocess(new, store, started.study_id)
    history = store.history(started.study_id)
    warm = [t for t in history if t.source == WARM_START]
    assert [t.number for t in warm] == [1, 2] and len(history) == 3
    assert [t.params["x"] for t in warm] == [min(b.params["x"], 0.2) for b in best]
    assert "study last-year" in warm[0].rationale
    assert all(f"x clipped from {b.params['x']!r} to 0.2" in w.rationale for w, b in zip(warm, best, strict=True)
               if b.params["x"] > 0.2)


def test_a_warm_start_from_a_study_that_does_not_exist_is_refused_before_anything_trains(tmp_path):
    spec = make_spec(tmp_path, warm_start={"study": "nowhere"})
    store = MemoryStudyStore()
    with pytest.raises(FieldError, match=r"warm_start\.study: 'nowhere': no such study"):
        study.open_study(spec, store)
    assert all(not store.history(s) for s in store.studies)


def test_the_generations_section_is_empty_while_the_data_never_changed():
    assert generations_section([trial(1, 0.1, 0.5), trial(2, 0.2, 0.6)], OBJECTIVE) == ""


def test_the_agent_s_model_side_takes_the_latest_earlier_generation_as_its_prior():
    from agenthpo.proposers import ProposerContext
    from agenthpo.proposers.agent import AgentProposer

    prior = (trial(1, 0.1, 0.5), trial(2, 0.2, 0.6, generation=2), trial(3, 0.3, 0.7, generation=2))
    agent = AgentProposer(OBJECTIVE, 0, ProposerContext(prior=prior))
    assert isinstance(agent.tpe, PriorInformed) and isinstance(agent.gp, PriorInformed)
    assert [t.number for t in agent.gp.prior] == [2, 3]
    plain = AgentProposer(OBJECTIVE, 0, ProposerContext())
    assert not isinstance(plain.tpe, PriorInformed) and not isinstance(plain.gp, PriorInformed)


def test_transfer_finds_the_other_study_in_another_experiment_of_the_same_mlflow_store(tmp_path, sqlite_uri):
    from agenthpo.tracking import MlflowStudyStore

    store = MlflowStudyStore(sqlite_uri)
    old = parse_spec(quadratic_spec(sqlite_uri, name="last-year", budget={"trials": 3, "max_failed_trials": 3}),
                     base_dir=None)
    old_id = study.open_study(old, store).study_id
    study.run_inprocess(old, store, old_id)
    best = sorted(store.history(old_id), key=lambda t: -t.value)[0]
    new = parse_spec(quadratic_spec(sqlite_uri, name="this-year", budget={"trials": 2, "max_failed_trials": 3},
                                    warm_start={"study": "last-year", "top_k": 1}), base_dir=None)
    new_id = study.open_study(new, store).study_id
    study.run_inprocess(new, store, new_id)
    first, second = store.history(new_id)
    assert (first.source, dict(first.params)) == (WARM_START, dict(best.params)) and second.source == "random"
    assert store.client.get_run(new_id).info.experiment_id != store.client.get_run(old_id).info.experiment_id


def test_transfer_takes_the_other_study_s_current_generation_only(tmp_path):
    from types import SimpleNamespace

    from agenthpo.generations import warm_starts

    other = [trial(1, 0.1, 0.99), trial(2, 0.7, 0.5, generation=2)]  # 0.99 was measured on older data
    store = SimpleNamespace(find_study=lambda name: "old", history=lambda study_id: other,
                            generation=lambda study_id: Generation(2, "f"))
    spec = make_spec(tmp_path, warm_start={"study": "last-year", "top_k": 2})
    (only,) = warm_starts(spec, store, [], 1)
    assert only.params["x"] == 0.7 and "#1 of study last-year (trial 2" in only.rationale
