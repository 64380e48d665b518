"""Many drivers on one study: claims keep trial numbers unique and the budget never overrun.

Against real parts: two `agenthpo tune` processes started at once on one study, on SQLite and on a real
`mlflow server` (REST: no transactions); threads racing for the claim primitive, for trial slots and for
a trial's end on that server.
"""

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from agenthpo.tracking import MlflowStudyStore
from agenthpo.tracking.claims import ClaimBook
from conftest import quadratic_spec, write_spec
from servers import start_mlflow_server

from agenthpo import names
from agenthpo.spec import parse_spec
from agenthpo.trial import Proposal, TrialState

pytestmark = pytest.mark.slow
BUDGET = 5


@pytest.fixture(scope="module")
def server(tmp_path_factory, migrated_sqlite):
    """A real `mlflow server` on 127.0.0.1 (SQLite behind it), shared by this module's tests."""
    folder = tmp_path_factory.mktemp("server")
    shutil.copy(migrated_sqlite, folder / "server.db")
    with start_mlflow_server(f"sqlite:///{folder / 'server.db'}", str(folder / "artifacts"), {},
                             folder / "server.log") as url:
        yield url


def open_study(uri: str, name: str, **overrides):
    spec = parse_spec(quadratic_spec(uri, name=name, **overrides), base_dir=None)
    store = MlflowStudyStore(uri)
    return spec, store, store.open_study(spec)


def race(count: int, work) -> list:
    """Run work(i) in `count` threads released at once; their results (an exception fails the test)."""
    start, results, errors = threading.Barrier(count), [None] * count, []

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    return results


def test_the_claim_primitive_has_one_owner_under_a_thread_race(server):
    owners = race(8, lambda i: ClaimBook(MlflowStudyStore(server).client).create_once(
        ".agenthpo/test/race", {names.CLAIM_RUN: f"thread-{i}"}))
    assert len({owner[names.CLAIM_RUN] for owner in owners}) == 1, owners
    claim = MlflowStudyStore(server).client.get_experiment_by_name(".agenthpo/test/race")
    assert claim.lifecycle_stage == "deleted" and claim.tags[names.CLAIM_RUN] == owners[0][names.CLAIM_RUN]


def test_eight_threads_claim_unique_numbers_and_never_more_than_the_budget(server):
    spec, store, study_id = open_study(server, "thread-race")

    def claim_two(i: int):
        mine = MlflowStudyStore(server)  # a driver of its own: its own client and connections
        return [mine.claim_trial(study_id, Proposal({"x": i / 10 + j / 100, "epochs": 2}, "random"), BUDGET,
                                 driver=f"thread-{i}") for j in range(2)]

    claims = [claim for pair in race(8, claim_two) for claim in pair]
    granted = sorted(c.number for c in claims if c.granted)
    assert len({c.number for c in claims}) == 16, "every claim got a number of its own"
    # Each claim counts the slots below its number: 1..5 find fewer than 5 taken, every later one finds 5.
    assert granted == [1, 2, 3, 4, 5]
    history = store.history(study_id)
    assert [t.number for t in history] == granted and {t.state for t in history} == {TrialState.RUNNING}
    assert store.slots_held(study_id) == BUDGET
    # The refused claims' runs were given back: deleted, out of every search and of the UI.
    refused = [c for c in claims if not c.granted]
    assert all(store.client.get_run(c.trial_id).info.lifecycle_stage == "deleted" for c in refused)
    assert all(c.reason.startswith(f"budget of {BUDGET} trials used or claimed") for c in refused)
    # An interrupted trial gives its slot back: the next claim gets it.
    assert store.mark_interrupted(history[0].run_id, "test")
    again = store.claim_trial(study_id, Proposal({"x": 0.99, "epochs": 2}, "random"), BUDGET)
    assert again.granted and again.number == 17 and store.slots_held(study_id) == BUDGET


def test_a_trial_ends_once_when_finishers_and_interrupters_race(server):
    spec, store, study_id = open_study(server, "end-race")
    trial_id = store.start_trial(study_id, 1, Proposal({"x": 0.5, "epochs": 2}, "random"))

    def end(i: int):
        mine = MlflowStudyStore(server)
        if i % 2:
            return mine.mark_interrupted(trial_id, "a resume found it stale")
        return mine.finish_trial(trial_id, 0.75, {"score": 0.75}, {}, 1.0, None)

    race(8, end)
    run = store.client.get_run(trial_id)
    (record,) = store.history(study_id)
    assert record.state in (TrialState.FINISHED, TrialState.INTERRUPTED)
    settled = store.client.get_experiment_by_name(f".agenthpo/settled/{trial_id}").tags[names.CLAIM_STATE]
    assert record.state.value == settled
    if record.state == TrialState.FINISHED:
        assert record.value == 0.75 and run.info.status == "FINISHED" and names.LATE_VALUE not in run.data.tags
    else:  # the finishers' result is kept as information only
        assert record.value is None and names.VALUE not in run.data.tags and run.info.status == "FAILED"
        assert run.data.tags[names.LATE_VALUE] == "0.75" and run.data.tags[names.LATE_STATE] == "FINISHED"


def tune(spec: Path, workdir: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "agenthpo", "tune", str(spec), "--workdir", str(workdir)],
                            cwd=workdir.parent, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            env={**os.environ, "AGENTHPO_HEARTBEAT_SECONDS": "2"})


@pytest.fixture(scope="module", params=["sqlite", "mlflow-server"])
def two_drivers(request, tmp_path_factory, migrated_sqlite, server):
    """Two `agenthpo tune` of one new study started at once (budget 5): (store, study name, their outputs)."""
    folder = tmp_path_factory.mktemp(request.param)
    shutil.copy(migrated_sqlite, folder / "mlflow.db")
    uri = f"sqlite:///{folder / 'mlflow.db'}" if request.param == "sqlite" else server
    name = f"two-drivers-{request.param}"
    spec = write_spec(folder / "spec.yaml", quadratic_spec(
        uri, name=name, task_options={"sleep_seconds": 3.0}, budget={"trials": BUDGET, "max_failed_trials": 3}))
    logs = [folder / f"driver-{i}.log" for i in (1, 2)]
    drivers = [tune(spec, folder / f"work-{i}", log) for i, log in zip((1, 2), logs, strict=True)]
    deadline = time.monotonic() + 900
    for driver in drivers:
        driver.wait(timeout=max(deadline - time.monotonic(), 1))
    outputs = [log.read_text() for log in logs]
    assert [d.returncode for d in drivers] == [0, 0], outputs
    return MlflowStudyStore(uri), name, outputs


def test_two_tune_processes_share_one_study_within_its_budget(two_drivers):
    store, name, outputs = two_drivers
    assert all(f"budget of {BUDGET} trials used" in out for out in outputs), outputs
    # Started together, both found no study and opened one: one study run won, both drivers used it.
    studies = store.client.search_runs(
        [e.experiment_id for e in store.client.search_experiments()],
        filter_string=f"tags.`{names.ROLE}` = 'study' and tags.`{names.STUDY}` = '{name}'")
    assert len(studies) == 1, "one study run, whichever driver opened it"
    study_id = studies[0].info.run_id
    history = store.history(study_id)
    numbers = [t.number for t in history]
    assert numbers == list(range(1, BUDGET + 1)), numbers
    assert [t.state for t in history] == [TrialState.FINISHED] * BUDGET, history
    tags = [store.client.get_run(t.run_id).data.tags for t in history]
    assert all(tag[names.DRIVER].startswith("local-") for tag in tags)
    # The Creator steps got their key from KFP's placeholders: <pipeline run id>/<task name>.
    assert all("/creator" in tag[names.ROUND_KEY] and "{{" not in tag[names.ROUND_KEY] for tag in tags)
    study_run = store.client.get_run(study_id)
    assert study_run.data.metrics[names.TRIALS_FINISHED] == BUDGET
    assert study_run.data.metrics[names.TRAIN_SECONDS_TOTAL] == pytest.approx(
        sum(t.train_seconds for t in history))


def test_each_session_counts_the_trials_its_own_driver_trained(two_drivers):
    store, name, outputs = two_drivers
    study_id = store.find_study(name, name)
    mine = [store.opened_by(study_id, driver) for driver in
            {store.client.get_run(t.run_id).data.tags[names.DRIVER] for t in store.history(study_id)}]
    assert sum(len(numbers) for numbers in mine) == BUDGET
    # The session metrics of the two drivers: together, the study's trials once.
    sessions = store.client.get_metric_history(study_id, names.SESSION_TRIALS)
    assert len(sessions) == 2 and sum(m.value for m in sessions) == BUDGET, sessions
