"""`budget.trial_timeout`: a trial past it is stopped and recorded FAILED "timed out after N s" (counted,
like any failure), by its own deadline or, for a hang its deadline cannot stop, by the driver killing
its step's processes; a step process killed by SIGKILL (the OOM killer) is a recorded failure too."""

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from conftest import quadratic_spec, run_cli, write_spec

from agenthpo import faults
from agenthpo.trial import TrialState

HERE = Path(__file__).resolve().parent


def env(**extra: str) -> dict[str, str]:
    """The plug-in's folder for the step processes, and short heartbeats."""
    return {"PYTHONPATH": os.pathsep.join([str(HERE), os.environ["PYTHONPATH"]]), "AGENTHPO_HEARTBEAT_SECONDS": "2",
            **extra}


def faulty_spec(tmp_path: Path, uri: str, fault: str, options: dict | None = None, **overrides) -> Path:
    """A spec of `reliability_tasks:FAULTY` whose first trial does `fault`."""
    for folder in ("once", "pids"):
        (tmp_path / folder).mkdir(exist_ok=True)
    options = {"fault": fault, "once_dir": str(tmp_path / "once"), "pid_dir": str(tmp_path / "pids"),
               **(options or {})}
    return write_spec(tmp_path / "spec.yaml", quadratic_spec(uri, task="reliability_tasks:FAULTY",
                                                             task_options=options, **overrides))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (nobody has reaped it yet) is gone
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def trained_pids(tmp_path: Path) -> list[int]:
    return [int(p.stem) for p in (tmp_path / "pids").glob("*.pid")]


def history(uri: str):
    from agenthpo.tracking import MlflowStudyStore

    store = MlflowStudyStore(uri)
    return store.history(store.find_study("quadratic"))


# -- the deadline itself -----------------------------------------------------------------------------
def remaining_alarm() -> float:
    return signal.getitimer(signal.ITIMER_REAL)[0]


def test_the_deadline_raises_in_the_block_and_restores_the_handler_and_the_outer_timer():
    before, outer = signal.getsignal(signal.SIGALRM), remaining_alarm()  # pytest-timeout's alarm, if any
    started = time.monotonic()
    with pytest.raises(faults.TrialTimeout, match=r"^timed out after 0.3 s$"):
        with faults.deadline(0.3):
            time.sleep(30)
    assert 0.25 < time.monotonic() - started < 5
    assert signal.getsignal(signal.SIGALRM) is before
    assert (0 < remaining_alarm() <= outer) if outer else remaining_alarm() == 0.0
    with faults.deadline(5):
        pass  # ended in time: nothing raised, nothing of ours left armed
    assert signal.getsignal(signal.SIGALRM) is before
    assert (0 < remaining_alarm() <= outer) if outer else remaining_alarm() == 0.0
    assert not issubclass(faults.TrialTimeout, OSError)  # a plug-in's `except OSError` does not swallow it


def test_no_deadline_without_a_timeout_or_outside_the_main_thread():
    before, outer = signal.getsignal(signal.SIGALRM), remaining_alarm()
    with faults.deadline(None):
        time.sleep(0.01)
    outcome = []

    def elsewhere():
        with faults.deadline(0.01):
            time.sleep(0.1)
        outcome.append("no deadline")

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert outcome == ["no deadline"] and signal.getsignal(signal.SIGALRM) is before
    assert remaining_alarm() <= outer


# -- whole studies on KFP's local runner -------------------------------------------------------------
slow = pytest.mark.slow


@slow
def test_a_trial_past_its_timeout_is_stopped_and_recorded_failed(tmp_path, sqlite_uri):
    spec = faulty_spec(tmp_path, sqlite_uri, "hang", budget={"trials": 2, "max_failed_trials": 2, "trial_timeout": 3})
    started = time.monotonic()
    done = run_cli("tune", spec, cwd=tmp_path, env=env(), timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    first, second = history(sqlite_uri)
    assert first.state == TrialState.FAILED and first.error.startswith("TrialTimeout: timed out after 3 s"), first
    assert 3 <= first.train_seconds < 30 and second.state == TrialState.FINISHED
    assert "FAILED   TrialTimeout: timed out after 3 s" in done.stdout  # the progress line
    assert not any(alive(pid) for pid in trained_pids(tmp_path)) and time.monotonic() - started < 500


@slow
def test_a_hang_the_deadline_cannot_stop_is_killed_by_the_driver(tmp_path, sqlite_uri):
    # The first trial ignores SIGALRM (as a hang inside C code would): the driver kills its step's
    # processes 3 s past its timeout, records it FAILED, and trains the rest of the budget in a new run.
    spec = faulty_spec(tmp_path, sqlite_uri, "hang_in_c",
                       budget={"trials": 2, "max_failed_trials": 2, "trial_timeout": 2})
    done = run_cli("tune", spec, cwd=tmp_path, env=env(AGENTHPO_TIMEOUT_GRACE_SECONDS="3"), timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    first, second = history(sqlite_uri)
    assert first.state == TrialState.FAILED and first.error.startswith("TrialTimeout: timed out after 2 s"), first
    assert "its step's processes were killed 3 s later" in first.error
    assert second.state == TrialState.FINISHED
    assert len(trained_pids(tmp_path)) == 2 and not any(alive(pid) for pid in trained_pids(tmp_path))


@slow
def test_a_step_killed_by_sigkill_is_a_recorded_failure_and_the_study_goes_on(tmp_path, sqlite_uri):
    spec = faulty_spec(tmp_path, sqlite_uri, "sigkill", budget={"trials": 2, "max_failed_trials": 2})
    done = run_cli("tune", spec, cwd=tmp_path, env=env(), timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    first, second = history(sqlite_uri)
    assert first.state == TrialState.FAILED and second.state == TrialState.FINISHED
    # The local runner does not retry a step (a cluster does, test_step_retry.py): the driver records the
    # trial whose step died while training as FAILED, and trial 2 trains in a new pipeline run.
    assert "out of memory" in first.error and "\x1b[" not in first.error, first.error
    assert len(trained_pids(tmp_path)) == 2 and not any(alive(pid) for pid in trained_pids(tmp_path))
