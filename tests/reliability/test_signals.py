"""Stopping `agenthpo tune` with a real signal stops its step processes too: SIGINT / SIGTERM mark its
running trial INTERRUPTED (not counted) and the study run KILLED, say how to resume and exit 130 / 143;
even SIGKILL, which the driver cannot see, takes the step processes with it (no orphan finishes a trial
that a resume marked INTERRUPTED)."""

import os
import select
import signal
import socket
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


def early_run_processes(folder: Path) -> list[int]:
    """The pipeline run `tune` starts with itself, and its warm worker: processes naming `folder`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z" and str(folder) in command and \
                ("agenthpo.pipelines.chunk" in command or "agenthpo.pipelines.warm" in command):
            found.append(int(entry.name))
    return found


def stderr_line(process: subprocess.Popen, text: str, seconds: float = 120) -> bool:
    """Whether the process writes a line with `text` to its stderr within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if select.select([process.stderr], [], [], 1.0)[0]:
            line = process.stderr.readline()
            if text in line:
                return True
            if not line:
                return False
    return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("signum, when, status", [
    # Usually before the driver handles signals (it dies by it), else while it imports MLflow (143).
    (signal.SIGTERM, "at once", (-signal.SIGTERM, 143)),
    (signal.SIGTERM, "waiting for the tracking server", (143,)),
    (signal.SIGKILL, "waiting for the tracking server", (-signal.SIGKILL,))])
def test_a_signal_before_the_first_trial_takes_the_early_pipeline_run_with_it(tmp_path, signum, when, status):
    """`tune` starts its first pipeline run's process (and its warm worker) before it opens the study; a
    driver stopped before that run got its trials, here while it waits for a tracking server that does not
    answer, leaves neither behind, whether it handles the signal or dies by it."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    spec = faulty_spec(tmp_path, f"http://127.0.0.1:{port}", "none")
    process = subprocess.Popen([sys.executable, "-m", "agenthpo", "tune", str(spec)], cwd=tmp_path, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                               env={**os.environ, **env(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0")})
    try:
        deadline = time.monotonic() + 120
        while len(early_run_processes(tmp_path)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(early_run_processes(tmp_path)) == 2, "the early run and its worker never started"
        if when != "at once":
            assert stderr_line(process, "did not answer"), "the driver never waited for the tracking server"
        process.send_signal(signum)
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode in status
    deadline = time.monotonic() + 30
    while early_run_processes(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert early_run_processes(tmp_path) == []
