"""Stopping `agenthpo tune` with a real signal stops its step processes too: SIGINT / SIGTERM mark its
running trial INTERRUPTED (not counted) and the study run KILLED, say how to resume and exit 130 / 143;
even SIGKILL, which the driver cannot see, takes the step processes with it (no orphan finishes a trial
that a resume marked INTERRUPTED)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli
from test_timeouts import alive, env, faulty_spec, history, trained_pids

from agenthpo.trial import TrialState

pytestmark = pytest.mark.slow


def start_tune(tmp_path: Path, spec: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "agenthpo", "tune", str(spec)], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            env={**os.environ, **env()})


def wait_for_training(tmp_path: Path, process: subprocess.Popen, seconds: float = 300) -> int:
    """The pid of the first trial's training process, once it trains."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pids = trained_pids(tmp_path)
        if pids:
            return pids[0]
        if process.poll() is not None:
            pytest.fail(f"tune ended first ({process.returncode}):\n{process.stdout.read()}{process.stderr.read()}")
        time.sleep(0.3)
    pytest.fail("the first trial never started training")


def wait_gone(pid: int, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not alive(pid)


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_the_steps_marks_the_trial_interrupted_and_says_how_to_resume(tmp_path, sqlite_uri,
                                                                                     signum, status):
    spec = faulty_spec(tmp_path, sqlite_uri, "hang", budget={"trials": 2, "max_failed_trials": 2})
    process = start_tune(tmp_path, spec)
    try:
        training = wait_for_training(tmp_path, process)
        process.send_signal(signum)  # to the driver alone, as `kill` or a scheduler does
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    name = signal.Signals(signum).name
    assert process.returncode == status, out + err
    assert f"agenthpo: stopped by {name}; trials [1] marked INTERRUPTED (not counted); the study run is KILLED" in err
    assert f"agenthpo: to resume, run: agenthpo tune {spec}" in err and "Traceback" not in err
    assert wait_gone(training), "the training step outlived the driver"

    from agenthpo.tracking import MlflowStudyStore

    store = MlflowStudyStore(sqlite_uri)
    study_id = store.find_study("quadratic")
    run = store.client.get_run(study_id)
    assert run.info.status == "KILLED" and run.data.tags["agenthpo.stopped"].startswith(f"interrupted by {name}")
    time.sleep(3)  # nothing left running can finish it later
    [trial] = history(sqlite_uri)
    assert trial.state == TrialState.INTERRUPTED
    if signum == signal.SIGINT:
        return

    # The same command resumes: the interrupted trial is not counted, the budget is trained in full.
    done = run_cli("tune", spec, cwd=tmp_path, env=env(), timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [(t.number, t.state) for t in history(sqlite_uri)] == [
        (1, TrialState.INTERRUPTED), (2, TrialState.FINISHED), (3, TrialState.FINISHED)]
    assert store.client.get_run(study_id).info.status == "FINISHED"


def test_sigkill_to_the_driver_takes_its_step_processes_with_it(tmp_path, sqlite_uri):
    spec = faulty_spec(tmp_path, sqlite_uri, "hang", budget={"trials": 2, "max_failed_trials": 2})
    process = start_tune(tmp_path, spec)
    try:
        training = wait_for_training(tmp_path, process)
        process.kill()  # the driver only: its pipeline's process group is not the driver's
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert wait_gone(training), "the training step outlived a SIGKILLed driver"
    [trial] = history(sqlite_uri)
    assert trial.state == TrialState.RUNNING  # a resume marks it INTERRUPTED once its heartbeat is stale
