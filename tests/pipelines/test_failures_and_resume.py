"""Killed studies resume; crashed trials are recorded and the study goes on."""

import os
import signal
import subprocess
import sys
import time

import pytest
from agenthpo.tracking import MlflowStudyStore
from conftest import quadratic_spec, run_cli, write_spec

from agenthpo.trial import TrialState

pytestmark = pytest.mark.slow


def test_resume_after_the_study_process_is_killed(tmp_path, sqlite_uri):
    spec = write_spec(tmp_path / "spec.yaml", quadratic_spec(sqlite_uri, task_options={"sleep_seconds": 8.0}))
    beats = {"AGENTHPO_HEARTBEAT_SECONDS": "1"}  # the killed trial is stale 4 s after its last beat
    process = subprocess.Popen([sys.executable, "-m", "agenthpo", "tune", str(spec)], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                               env={**os.environ, **beats})
    store = MlflowStudyStore(sqlite_uri)
    deadline = time.time() + 300
    try:
        while time.time() < deadline:
            study_id = store.find_study("quadratic")
            history = store.history(study_id) if study_id else []
            if len(history) == 2 and history[1].state == TrialState.RUNNING:
                break
            assert process.poll() is None, process.stdout.read().decode()
            time.sleep(0.5)
        else:
            pytest.fail("trial 2 never started")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert store.history(study_id)[1].state == TrialState.RUNNING

    done = run_cli("tune", spec, cwd=tmp_path, env=beats)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resuming after 1 trials" in done.stdout
    history = store.history(study_id)
    assert [(t.number, t.state) for t in history] == [
        (1, TrialState.FINISHED), (2, TrialState.INTERRUPTED), (3, TrialState.FINISHED), (4, TrialState.FINISHED)]
    assert store.client.get_run(history[1].run_id).info.status == "FAILED"


def test_a_trial_whose_process_dies_is_failed_and_the_study_goes_on(tmp_path, sqlite_uri):
    # seed 1 with random search draws x above 0.6 for some of the first trials
    spec = write_spec(tmp_path / "spec.yaml", quadratic_spec(
        sqlite_uri, task_options={"exit_above": 0.6, "raise_above": 0.4}, budget={"trials": 4, "max_failed_trials": 4}))
    done = run_cli("tune", spec, cwd=tmp_path)
    store = MlflowStudyStore(sqlite_uri)
    history = store.history(store.find_study("quadratic"))
    states = {t.number: t for t in history}
    assert len(history) == 4 and all(t.state in (TrialState.FINISHED, TrialState.FAILED) for t in history)
    died = [t for t in history if t.params["x"] > 0.6]
    raised = [t for t in history if 0.4 < t.params["x"] <= 0.6]
    assert died and all("process failed" in t.error for t in died), states
    assert all("injected failure" in t.error for t in raised)
    assert done.returncode == (1 if len(died) + len(raised) >= 4 else 0), done.stdout + done.stderr
    assert "FAILED" in done.stdout


def test_max_failed_trials_ends_the_study_with_a_clear_message(tmp_path, sqlite_uri):
    spec = write_spec(tmp_path / "spec.yaml", quadratic_spec(
        sqlite_uri, task_options={"raise_above": -1.0}, budget={"trials": 5, "max_failed_trials": 2}))
    done = run_cli("tune", spec, cwd=tmp_path)
    assert done.returncode == 1
    assert "study stopped: 2 trials failed, reaching budget.max_failed_trials=2" in done.stderr
    store = MlflowStudyStore(sqlite_uri)
    assert len(store.history(store.find_study("quadratic"))) == 2
