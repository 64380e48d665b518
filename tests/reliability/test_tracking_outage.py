"""A tracking outage is never a counted failure: every MLflow call retries with bounded backoff
(tracking/retry.py), a trial that trained during an outage keeps its result once the server answers,
and one whose result cannot be recorded at all is INTERRUPTED (not counted), not FAILED. No logging
tracebacks, no terminal colour codes in tags."""

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from agenthpo.tracking.retry import RetryingClient, retry_seconds, retryable
from conftest import run_cli
from mlflow.exceptions import MlflowException, RestException
from mlflow.protos.databricks_pb2 import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
)
from servers import BIN, HOST, _stop_group, _wait, free_port
from test_timeouts import env, faulty_spec, history, trained_pids

from agenthpo.faults import TrackingUnavailable
from agenthpo.trial import TrialState


# -- the retrying client ------------------------------------------------------------------------------
class Flaky:
    """A client whose `call` raises the given errors in turn, then answers 'ok'."""

    tracking_uri = "http://example.invalid"

    def __init__(self, *errors):
        self.errors, self.calls = list(errors), 0

    def call(self, *args, **kwargs):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return ("ok", args, kwargs)


class Clock:
    def __init__(self):
        self.now, self.sleeps = 0.0, []

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def retrying(client, seconds=60.0):
    clock = Clock()
    return RetryingClient(client, seconds=seconds, sleep=clock.sleep, clock=lambda: clock.now), clock


UNREACHABLE = MlflowException("API request to http://127.0.0.1:5000/api/2.0/mlflow/runs/get failed with exception "
                              "HTTPConnectionPool(host='127.0.0.1', port=5000): Max retries exceeded")


@pytest.mark.parametrize("error", [
    UNREACHABLE,
    MlflowException("API request to http://h/api failed with timeout exception Read timed out."),
    MlflowException("API request to endpoint /api/2.0/mlflow/runs/get failed with error code 502 != 200. "
                    "Response body: '<html>Bad Gateway</html>'"),
    MlflowException("(sqlite3.OperationalError) database is locked", error_code=TEMPORARILY_UNAVAILABLE),
    RestException({"error_code": "TEMPORARILY_UNAVAILABLE", "message": "database unreachable"}),
    requests.exceptions.ConnectionError("connection refused"),
    ConnectionResetError("reset by peer"),
])
def test_an_outage_is_retried_with_growing_waits_until_the_server_answers(error, capsys):
    client, clock = retrying(Flaky(error, error, error))
    assert client.call(1, key="v") == ("ok", (1,), {"key": "v"})
    assert client._client.calls == 4 and clock.sleeps == [1.0, 2.0, 4.0]
    err = capsys.readouterr().err
    assert "agenthpo: the tracking server did not answer call" in err and "answers again" in err
    assert "127.0.0.1" not in err  # the class and code only: a URL may carry credentials


@pytest.mark.parametrize("code", [RESOURCE_ALREADY_EXISTS, INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST])
def test_an_error_waiting_cannot_cure_is_raised_at_once(code):
    error = MlflowException("no", error_code=code)
    client, clock = retrying(Flaky(error))
    with pytest.raises(MlflowException) as raised:
        client.call()
    assert raised.value is error and client._client.calls == 1 and clock.sleeps == []


def test_the_servers_own_internal_error_and_plain_bugs_are_not_retried():
    for error in (RestException({"error_code": "INTERNAL_ERROR", "message": "a bug"}),
                  MlflowException("a client-side problem", error_code=INTERNAL_ERROR), KeyError("x")):
        assert not retryable(error)


def test_the_retries_stop_at_the_budget_with_tracking_unavailable():
    client, clock = retrying(Flaky(*[UNREACHABLE] * 100), seconds=100)
    with pytest.raises(TrackingUnavailable, match=r"did not answer call for \d+ s") as raised:
        client.call()
    assert raised.value.__cause__ is UNREACHABLE
    assert sum(clock.sleeps) <= 100 and max(clock.sleeps) == 30.0  # waits grow to 30 s, never past the budget


def test_attributes_pass_through_and_the_budget_comes_from_the_environment(monkeypatch):
    client, _ = retrying(Flaky())
    assert client.tracking_uri == "http://example.invalid"
    monkeypatch.setenv("AGENTHPO_TRACKING_RETRY_SECONDS", "12.5")
    assert retry_seconds() == 12.5
    monkeypatch.setenv("AGENTHPO_TRACKING_RETRY_SECONDS", "soon")
    assert retry_seconds() == 600.0


# -- a real mlflow server, stopped and restarted during a trial --------------------------------------
@contextmanager
def mlflow_server(port: int, folder: Path, log: Path):
    """`mlflow server` on 127.0.0.1:port over a SQLite file and an artifact folder that outlive it."""
    with open(log, "a") as out:
        process = subprocess.Popen(
            [str(BIN / "mlflow"), "server", "--host", HOST, "--port", str(port), "--workers", "1",
             "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
             "--artifacts-destination", str(folder / "artifacts")],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    try:
        _wait(f"mlflow server on {port}", lambda: requests.get(f"http://{HOST}:{port}/health", timeout=2).ok,
              process, log, 300)
        yield process
    finally:
        _stop_group(process, grace=5)


def tags_of_every_run(uri: str) -> list[dict]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    return [run.data.tags for run in client.search_runs(experiments, max_results=1000)]


def tune_into_an_outage(tmp_path, sleep_seconds: float, retry_seconds: str, request_timeout: str):
    """`agenthpo tune` (2 trials of `sleep_seconds`) on a real server, stopped once a trial trains (the outage
    begins); the tracking calls retry for `retry_seconds`. Returns the tune process, the server's uri, port and
    log, the spec and the environment."""
    port, log = free_port(), tmp_path / "server.log"
    uri = f"http://{HOST}:{port}"
    spec = faulty_spec(tmp_path, uri, "none", {"sleep_seconds": sleep_seconds},
                       budget={"trials": 2, "max_failed_trials": 1})
    outage_env = env(AGENTHPO_TRACKING_RETRY_SECONDS=retry_seconds, MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
                     MLFLOW_HTTP_REQUEST_TIMEOUT=request_timeout)
    with mlflow_server(port, tmp_path, log) as server:
        tune = subprocess.Popen([sys.executable, "-m", "agenthpo", "tune", str(spec)], cwd=tmp_path, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                                env={**os.environ, **outage_env})
        deadline = time.monotonic() + 300
        while not trained_pids(tmp_path) and time.monotonic() < deadline and tune.poll() is None:
            time.sleep(0.2)
        assert trained_pids(tmp_path), tune.communicate()
        _stop_group(server, grace=5)
    return tune, uri, port, log, spec, outage_env


@pytest.mark.slow
def test_a_trial_that_trains_through_an_outage_keeps_its_result(tmp_path):
    tune, uri, port, log, _, _ = tune_into_an_outage(tmp_path, 6.0, "240", "10")
    time.sleep(15)  # the outage: trial 1 trains on for 6 s and ends while it lasts
    try:
        with mlflow_server(port, tmp_path, log):
            out, err = tune.communicate(timeout=600)
            assert tune.returncode == 0, out + err
            trials = history(uri)
            assert [(t.number, t.state) for t in trials] == [(1, TrialState.FINISHED), (2, TrialState.FINISHED)]
            assert trials[0].value is not None and trials[0].facts  # its result, and its analysis
            tags = tags_of_every_run(uri)
    finally:
        if tune.poll() is None:
            os.killpg(tune.pid, 9)
    assert "did not answer" in err and "retrying for up to 240 s" in err  # the driver's own calls waited too
    kfp_log = (tmp_path / ".agenthpo" / "logs" / "quadratic.log").read_text()
    assert "did not answer finish_trial" in kfp_log or "did not answer" in kfp_log
    for text in (out, err, kfp_log):
        assert "Logging error" not in text and "I/O operation on closed file" not in text
    assert not [t for run in tags for t in run.values() if "\x1b[" in t]


@pytest.mark.slow
def test_an_outage_past_the_retry_budget_stops_the_driver_and_the_trial_is_not_counted(tmp_path):
    # The server stays down past every retry (the step's, KFP's step retries, the driver's): `tune` says so
    # and exits 1; once the server is back, the same command resumes, the trial caught in the outage
    # INTERRUPTED (its heartbeat went stale): not counted, not FAILED.
    tune, uri, port, log, spec, outage_env = tune_into_an_outage(tmp_path, 2.0, "8", "5")
    try:
        out, err = tune.communicate(timeout=600)
    finally:
        if tune.poll() is None:
            os.killpg(tune.pid, 9)
    assert tune.returncode == 1, out + err
    assert "agenthpo: the tracking server did not answer" in err
    assert f"once the tracking server answers, resume with: agenthpo tune {spec}" in err
    assert "Traceback" not in err and "Logging error" not in err
    with mlflow_server(port, tmp_path, log):
        done = run_cli("tune", spec, cwd=tmp_path, env=outage_env, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        trials = history(uri)
    assert [(t.number, t.state) for t in trials] == [
        (1, TrialState.INTERRUPTED), (2, TrialState.FINISHED), (3, TrialState.FINISHED)]


def test_after_a_failed_run_only_a_trial_that_died_training_is_failed(tmp_path, sqlite_uri):
    """The driver's rule when a pipeline run failed (pipelines/local._settle), on a real store: a trial
    whose step had trained (its result unrecorded) is INTERRUPTED, one that died training FAILED, one that
    never started INTERRUPTED; trials of other runs are left alone."""
    from agenthpo.pipelines.local import Chunk, _settle
    from agenthpo.tracking import MlflowStudyStore
    from conftest import quadratic_spec

    from agenthpo import faults, study
    from agenthpo.spec import parse_spec

    spec = parse_spec(quadratic_spec(sqlite_uri, budget={"trials": 4, "max_failed_trials": 4}, parallel=4),
                      base_dir=None)
    store = MlflowStudyStore(sqlite_uri)
    study_id = study.open_study(spec, store).study_id
    unrecorded, died, waiting, elsewhere = (c.trial_id for c in study.create_round(spec, store, study_id).configs)
    chunk = Chunk.__new__(Chunk)  # its outputs and notes only: no process
    chunk.root, chunk.notes, chunk._read = tmp_path, tmp_path / "notes", set()
    chunk._opened = {unrecorded, died, waiting}
    chunk.notes.mkdir()
    for trial_id, kinds in ((unrecorded, (faults.STARTED, faults.TRAINED, faults.UNRECORDED)),
                            (died, (faults.STARTED,))):
        for kind in kinds:
            (chunk.notes / f"{trial_id}.{kind}").touch()
            time.sleep(0.01)
    assert _settle(chunk, store, study_id, "the step's process failed: killed") == [2]
    states = {t.run_id: t for t in store.history(study_id)}
    assert states[unrecorded].state == TrialState.INTERRUPTED
    assert states[died].state == TrialState.FAILED and states[died].error == "the step's process failed: killed"
    assert states[waiting].state == TrialState.INTERRUPTED  # opened, never trained: not counted either
    assert states[elsewhere].state == TrialState.RUNNING
