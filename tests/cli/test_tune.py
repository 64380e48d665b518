"""`agenthpo tune` in this process: the pipeline's steps run in-process in place of KFP's local runner."""

import contextlib

import pytest
from conftest import quadratic_spec, write_spec

from agenthpo.cli import main


@pytest.fixture
def inprocess_pipeline(monkeypatch):
    import agenthpo.pipelines.local as local

    from agenthpo import study

    def run_to_budget(spec, store, study_id, workdir, log_path, on_failure=None, per_run=None, early=None):
        study.run_inprocess(spec, store, study_id)

    monkeypatch.setattr(local, "run_to_budget", run_to_budget)

    monkeypatch.setattr(local, "started_early", lambda *args: contextlib.nullcontext())  # no KFP process


def test_tune_prints_each_trial_the_summary_and_logs_the_session_timing(tmp_path, sqlite_uri, inprocess_pipeline,
                                                                        capsys):
    from agenthpo.tracking import MlflowStudyStore
    from mlflow.tracking import MlflowClient

    spec = write_spec(tmp_path / "spec.yaml", quadratic_spec(sqlite_uri))
    assert main(["tune", str(spec), "--trials", "2", "--workdir", str(tmp_path / "work")]) == 0
    out = capsys.readouterr().out
    assert "agenthpo: study 'quadratic': fault_tasks:QUADRATIC, proposer random, 2 trials\n" in out
    assert out.count("  trial ") == 2 and "  trial   1/2   random   score=" in out
    assert "best: trial " in out and "done: budget of 2 trials used" in out
    assert " wall for 2 trials = " in out and "LLM" not in out.split("done:")[1].split("report:")[0]
    assert f"report: agenthpo report quadratic --tracking-uri {sqlite_uri}" in out

    study_id = MlflowStudyStore(sqlite_uri).find_study("quadratic")
    metrics = MlflowClient(sqlite_uri).get_run(study_id).data.metrics
    assert metrics["study/session_trials"] == 2.0 and metrics["time/session_llm_seconds"] == 0.0
    assert metrics["time/session_wall_seconds"] >= metrics["time/session_train_seconds"] >= 0.0

    # Again: resumed with nothing left to train.
    assert main(["tune", str(spec), "--trials", "2", "--workdir", str(tmp_path / "work")]) == 0
    out = capsys.readouterr().out
    assert ", resuming after 2 trials" in out and " wall for 0 trials = " in out and "  trial " not in out
