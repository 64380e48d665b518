import json
import time

import pytest
from agenthpo.tracking import MlflowStudyStore
from agenthpo.tracking.store import NOTE, PARENT, TAG_LIMIT
from conftest import quadratic_spec
from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient

from agenthpo.spec import parse_spec
from agenthpo.trial import Proposal, TrialState


@pytest.fixture
def setup(sqlite_uri):
    spec = parse_spec(quadratic_spec(sqlite_uri), base_dir=None)
    store = MlflowStudyStore(sqlite_uri)
    return spec, store, store.open_study(spec)


def test_study_is_a_parent_run_and_resumes(setup, tmp_path):
    spec, store, study_id = setup
    run = store.client.get_run(study_id)
    assert run.data.tags["agenthpo.role"] == "study" and run.data.tags["agenthpo.study"] == "quadratic"
    assert run.data.params["metric"] == "score"
    assert store.load_spec(study_id) == spec
    assert store.open_study(spec) == study_id
    assert store.find_study("quadratic") == study_id and store.find_study("other") is None
    # Artifacts sit beside the SQLite file, not in whatever folder a step ran in.
    assert run.info.artifact_uri.removeprefix("file://").startswith(f"{tmp_path}/mlartifacts/quadratic/")


def test_trial_round_trip(setup):
    spec, store, study_id = setup
    trial_id = store.start_trial(study_id, 1, Proposal({"x": 0.1 + 0.2, "epochs": 3}, "random", "because"))
    run = store.client.get_run(trial_id)
    assert run.data.tags[PARENT] == study_id and run.data.tags["agenthpo.trial"] == "1"
    assert run.data.tags["agenthpo.rationale"] == "because" and run.data.params["epochs"] == "3"
    store.finish_trial(trial_id, 0.75, {"score": 0.75, "validation_loss": 0.41},
                       {"validation_loss": [(1, 0.5), (2, 0.4), (3, 0.45)]}, 1.5, None)
    (record,) = store.history(study_id)
    assert record.state == TrialState.FINISHED and record.value == 0.75 and record.train_seconds == 1.5
    assert record.params == {"x": 0.1 + 0.2, "epochs": 3} and isinstance(record.params["epochs"], int)
    assert store.curves(trial_id) == {"validation_loss": [(1, 0.5), (2, 0.4), (3, 0.45)]}
    assert store.client.get_run(trial_id).data.metrics["final_validation_loss"] == 0.41
    assert store.client.get_run(trial_id).info.status == "FINISHED"


def test_a_trial_an_older_version_recorded_reads_back_under_today_s_metric_names(setup):
    """Stores written before the names were grouped by prefix hold `train_seconds`, `creator_prompt_tokens`."""
    spec, store, study_id = setup
    trial_id = store.start_trial(study_id, 1, Proposal({"x": 0.2, "epochs": 3}, "llm"))
    store.client.log_batch(trial_id, metrics=[Metric("train_seconds", 7.0, 0, 0), Metric("score", 0.5, 0, 0),
                                              Metric("creator_prompt_tokens", 90.0, 0, 0)],
                           tags=[RunTag("agenthpo.state", "FINISHED"), RunTag("agenthpo.value", "0.5")])
    store.client.set_terminated(trial_id)
    (record,) = store.history(study_id)
    assert record.state == TrialState.FINISHED and record.train_seconds == 7.0
    assert record.metrics["llm/creator_prompt_tokens"] == 90.0 and "creator_prompt_tokens" not in record.metrics


def test_failed_trial_keeps_its_error_and_partial_curves(setup):
    spec, store, study_id = setup
    trial_id = store.start_trial(study_id, 1, Proposal({"x": 0.9, "epochs": 3}, "random"))
    store.fail_trial(trial_id, "RuntimeError: boom\n\nTraceback ...", {"train_loss": [(1, 1.0), (2, 0.5)]}, 0.2)
    (record,) = store.history(study_id)
    assert record.state == TrialState.FAILED and record.error == "RuntimeError: boom" and record.value is None
    assert "Traceback" in (store.client.download_artifacts(trial_id, "error.txt") and
                           open(store.client.download_artifacts(trial_id, "error.txt")).read())
    assert store.curves(trial_id)["train_loss"] == [(1, 1.0), (2, 0.5)]


def test_stale_running_trials_are_interrupted_on_resume_and_not_counted(setup):
    spec, store, study_id = setup
    trial_id = store.start_trial(study_id, 1, Proposal({"x": 0.5, "epochs": 2}, "random"))
    alive = store.start_trial(study_id, 2, Proposal({"x": 0.6, "epochs": 2}, "random"))
    assert store.history(study_id)[0].state == TrialState.RUNNING
    store.open_study(spec)
    assert {t.state for t in store.history(study_id)} == {TrialState.RUNNING}  # opened just now: may be alive
    store.heartbeat(trial_id, 30.0)
    store.clock = lambda: time.time() + 121  # past 4 intervals of 30 s since trial 1's beat
    store.heartbeat(alive, 30.0)  # trial 2 still beats
    store.open_study(spec)
    record, running = store.history(study_id)
    assert record.state == TrialState.INTERRUPTED and running.state == TrialState.RUNNING
    run = store.client.get_run(trial_id)
    assert run.info.status == "FAILED" and "Interrupted" in run.data.tags[NOTE]
    assert "no sign of life for 121 s (heartbeat)" in run.data.tags[NOTE]
    assert store.slots_held(study_id) == 1  # the interrupted trial's slot is given back


def test_analysis_note_and_long_texts_go_to_artifacts(setup):
    spec, store, study_id = setup
    trial_id = store.start_trial(study_id, 1, Proposal({"x": 0.5, "epochs": 2}, "random", "r" * (TAG_LIMIT + 10)))
    store.write_analysis(trial_id, {"verdict": "converged"}, "n" * (TAG_LIMIT + 100))
    run = store.client.get_run(trial_id)
    assert len(run.data.tags[NOTE]) <= TAG_LIMIT and json.loads(run.data.tags["agenthpo.analysis"]) == {
        "verdict": "converged"}
    names = {a.path for a in MlflowClient(store.tracking_uri).list_artifacts(trial_id)}
    assert {"analysis.md", "rationale.md"} <= names


def test_the_study_run_records_its_generation_and_logs_each_generation_once(setup):
    from agenthpo.generations import Generation

    spec, store, study_id = setup
    assert store.generation(study_id) == Generation(1, "")
    store.begin_generation(study_id, Generation(1, "a" * 64), "first data seen")
    store.begin_generation(study_id, Generation(2, "b" * 64), "the data changed")
    store.begin_generation(study_id, Generation(2, "b" * 64), "the data changed")  # a second driver, at once
    assert store.generation(study_id) == Generation(2, "b" * 64)
    assert [(g["generation"], g["fingerprint"], g["note"]) for g in store.generations_log(study_id)] == [
        (1, "a" * 64, "first data seen"), (2, "b" * 64, "the data changed")]
    assert "agenthpo.generations" not in store.client.get_run(study_id).data.tags  # a log grows: not a tag
