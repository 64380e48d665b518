"""The study steps in one process over a SQLite MLflow store (the pipeline runs the same calls)."""

import time

import pytest
from agenthpo.tracking import MlflowStudyStore
from conftest import quadratic_spec

from agenthpo import study
from agenthpo.spec import parse_spec
from agenthpo.trial import TrialState


def run_trials(spec, store, study_id, count):
    results = []
    for _ in range(count):
        config = study.create_trial(spec, store, study_id)
        trained = study.train_trial(spec, store, config)
        results.append((config, trained, study.analyze_trial(spec, store, config, trained)))
    return results


def make(sqlite_uri, **overrides):
    spec = parse_spec(quadratic_spec(sqlite_uri, **overrides), base_dir=None)
    store = MlflowStudyStore(sqlite_uri)
    return spec, store, study.open_study(spec, store).study_id


def test_budget_is_respected_and_the_report_written(sqlite_uri):
    spec, store, study_id = make(sqlite_uri)
    results = run_trials(spec, store, study_id, 4)
    assert [c.state for c, _, _ in results] == [TrialState.PROPOSED] * 3 + [TrialState.STOPPED]
    assert results[3][1].state == TrialState.STOPPED and results[3][2].state == TrialState.STOPPED
    assert results[3][0].reason == "budget of 3 trials used"
    history = store.history(study_id)
    assert [t.number for t in history] == [1, 2, 3] and all(t.facts.get("verdict") for t in history)
    report = study.report_study(spec, store, study_id)
    assert report.best.value == max(t.value for t in history)
    run = store.client.get_run(study_id)
    assert run.info.status == "FINISHED" and run.data.metrics["study/trials_finished"] == 3
    assert "mlflow.note.content" in run.data.tags


def test_a_crashing_trial_is_recorded_and_the_study_goes_on(sqlite_uri):
    spec, store, study_id = make(sqlite_uri, task_options={"raise_above": 0.5},
                                 budget={"trials": 6, "max_failed_trials": 5})
    results = run_trials(spec, store, study_id, 6)
    failed = [t for t in store.history(study_id) if t.state == TrialState.FAILED]
    assert failed, "with x uniform on [0, 1] some of 6 trials exceed 0.5"
    assert all(t.params["x"] > 0.5 and "injected failure" in t.error for t in failed)
    assert all(r[1].state in (TrialState.FINISHED, TrialState.FAILED) for r in results)
    assert "failed" in store.client.get_run(failed[0].run_id).data.tags["mlflow.note.content"]


def test_nan_objective_fails_the_trial(sqlite_uri):
    spec, store, study_id = make(sqlite_uri, task_options={"nan_above": -1.0})
    (_, trained, _), = run_trials(spec, store, study_id, 1)
    assert trained.state == TrialState.FAILED and "score=nan is not a finite number" in trained.error


def test_max_failed_trials_stops_the_study(sqlite_uri):
    spec, store, study_id = make(sqlite_uri, task_options={"raise_above": -1.0},
                                 budget={"trials": 10, "max_failed_trials": 2})
    results = run_trials(spec, store, study_id, 3)
    assert results[2][0].state == TrialState.STOPPED and "2 trials failed" in results[2][0].reason
    report = study.report_study(spec, store, study_id)
    assert "2 trials failed" in report.stopped
    assert store.client.get_run(study_id).info.status == "FAILED"


@pytest.mark.parametrize("proposer", ["random", "tpe"])
def test_each_proposer_runs_a_study(sqlite_uri, proposer):
    spec, store, study_id = make(sqlite_uri, proposer=proposer)
    run_trials(spec, store, study_id, 3)
    assert {t.source for t in store.history(study_id)} == {proposer}


def test_llm_study_records_sources_usage_and_analyses(sqlite_uri):
    from scripted_llm import ScriptedLLM

    with ScriptedLLM() as server:
        spec, store, study_id = make(sqlite_uri, proposer="llm",
                                     llm={"base_url": server.base_url, "model": "scripted", "max_retries": 0,
                                          "prices": {"prompt_per_million": 2.5, "completion_per_million": 10}})
        server.behaviours = ["valid", "valid", "prose", "prose"]  # trial 2's Creator falls back
        results = run_trials(spec, store, study_id, 2)
        report = study.report_study(spec, store, study_id)
    history = store.history(study_id)
    assert [t.source for t in history] == ["llm", "fallback"] and [t.repair for t in history] == ["none", "fallback"]
    first = store.client.get_run(history[0].run_id).data
    assert first.tags["agenthpo.rationale"].startswith("scripted rationale")
    assert first.metrics["llm/creator_prompt_tokens"] == 100 and first.metrics["llm/executor_prompt_tokens"] == 100
    note = first.tags["mlflow.note.content"]
    assert note.startswith("**Creator (llm):** scripted rationale") and results[0][2].verdict
    assert "**Executor (LLM):**" in note
    assert "**Creator (fallback):** LLM answer unusable" in store.client.get_run(history[1].run_id).data.tags[
        "mlflow.note.content"]
    assert "## Final analysis (LLM)" in report.markdown
    totals = store.client.get_run(study_id).data.metrics
    # 2 Creator calls for trial 1 (valid) ... counted per call: 100 prompt + 20 completion tokens each.
    calls = totals["llm/calls_total"]
    assert totals["llm/prompt_tokens_total"] == 100 * calls and totals["llm/completion_tokens_total"] == 20 * calls
    assert totals["llm/cost_usd"] == pytest.approx((100 * calls * 2.5 + 20 * calls * 10) / 1e6)
    assert totals["llm/creator_fallback_share"] == 0.5 and totals["llm/final_prompt_tokens"] == 100


@pytest.mark.parametrize("proposer", ["random", "tpe"])
def test_every_proposer_trains_the_start_configuration_first(sqlite_uri, proposer):
    spec, store, study_id = make(sqlite_uri, proposer=proposer, start={"x": 0.25, "epochs": 3})
    run_trials(spec, store, study_id, 3)
    history = store.history(study_id)
    assert [t.source for t in history] == ["start", proposer, proposer]
    assert history[0].params == {"x": 0.25, "epochs": 3}


def test_an_interrupted_start_is_proposed_again(sqlite_uri):
    spec, store, study_id = make(sqlite_uri, start={"x": 0.25, "epochs": 3})
    config = study.create_trial(spec, store, study_id)  # its process dies before training
    assert config.proposal.source == "start"
    store.clock = lambda: time.time() + 3600  # never a heartbeat, an hour after it was opened: stale
    study.open_study(spec, store)  # the resume marks it interrupted
    again = study.create_trial(spec, store, study_id)
    assert again.proposal.source == "start" and again.number == 2


@pytest.mark.parametrize("proposer", ["random", "tpe"])
def test_a_parallel_round_opens_k_distinct_trials_and_the_last_round_is_cut_to_the_budget(sqlite_uri, proposer):
    spec, store, study_id = make(sqlite_uri, budget={"trials": 5, "max_failed_trials": 5}, parallel=3,
                                 proposer=proposer)
    first = study.create_round(spec, store, study_id)
    assert first.stop is None and [c.number for c in first.configs] == [1, 2, 3]
    assert len({c.proposal.params["x"] for c in first.configs}) == 3, "no duplicate configuration in a round"
    assert {t.state for t in store.history(study_id)} == {TrialState.RUNNING}
    for config in first.configs:
        study.analyze_trial(spec, store, config, study.train_trial(spec, store, config))
    second = study.create_round(spec, store, study_id)
    assert [c.number for c in second.configs] == [4, 5]  # 2 of the 5 trials are left
    for config in second.configs:
        study.analyze_trial(spec, store, config, study.train_trial(spec, store, config))
    params = [t.params["x"] for t in store.history(study_id)]
    assert len(set(params)) == 5
    assert study.create_round(spec, store, study_id).stop == "budget"


def test_a_parallel_round_trains_the_start_configuration_beside_the_proposals(sqlite_uri):
    spec, store, study_id = make(sqlite_uri, parallel=2, start={"x": 0.25, "epochs": 3})
    configs = study.create_round(spec, store, study_id).configs
    assert [c.proposal.source for c in configs] == ["start", "random"]
    assert configs[0].proposal.params == {"x": 0.25, "epochs": 3} and configs[1].proposal.params["x"] != 0.25


@pytest.mark.parametrize("change, message", [
    ({"parallel": 0}, "parallel: 0 must be an integer >= 1"),
    ({"parallel": 4}, "parallel: 4 is more than budget.trials=3"),
    ({"parallel": True}, "parallel: True must be an integer >= 1"),
])
def test_parallel_is_checked(sqlite_uri, change, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_spec(quadratic_spec(sqlite_uri, **change), base_dir=None)


def test_a_smaller_budget_from_the_command_line_makes_smaller_rounds(sqlite_uri):
    spec = parse_spec(quadratic_spec(sqlite_uri, parallel=3), base_dir=None)
    assert spec.with_overrides(trials=2).parallel == 2 and spec.with_overrides(trials=5).parallel == 3
