"""A pipeline run started before it is told what to run (issue 14: KFP's and the warm worker's imports
overlap the driver's own start): it runs its order with the driver's environment as it is at the order,
its steps handed to the warm worker; a run never ordered goes with its worker; `run_to_budget` takes the
early run when it fits the spec and starts another when it does not."""

import os
import time
from pathlib import Path

import pytest
from agenthpo.pipelines import chunk as chunks
from agenthpo.pipelines import local
from conftest import quadratic_spec
from memory_store import MemoryStudyStore

from agenthpo import study
from agenthpo.spec import parse_spec
from agenthpo.trial import TrialState
from agenthpo.trial_events import EVENTS_ENV


def processes() -> dict[int, tuple[int, str]]:
    """Every process: pid -> (parent pid, command line)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        found[int(entry.name)] = (parent, command)
    return found


def workers_of(run: chunks.Chunk) -> list[int]:
    return [pid for pid, (parent, command) in processes().items()
            if parent == run.process.pid and "agenthpo.pipelines.warm" in command]


def wait_for(condition, seconds: float = 120.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("never happened")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_an_early_run_runs_its_order_in_its_worker_with_the_environment_as_ordered(tmp_path, sqlite_uri,
                                                                                   monkeypatch):
    spec = parse_spec(quadratic_spec(sqlite_uri, budget={"trials": 2, "max_failed_trials": 1},
                                     task_options={"sleep_seconds": 1.0}), base_dir=None)
    run = chunks.Chunk(spec, tmp_path / "work", tmp_path / "kfp.log")
    try:
        [worker] = wait_for(lambda: workers_of(run))  # it starts its worker before it has an order
        events = tmp_path / "events"
        monkeypatch.setenv(EVENTS_ENV, str(events))  # set after the run's process started
        run.order(spec, 2)
        # The training step's body runs in a child of the worker, not in the step's own process.
        wait_for(lambda: any(parent == worker for parent, _ in processes().values()))
        assert run.wait(300) == 0, (tmp_path / "kfp.log").read_text()[-3000:]
    finally:
        run.kill()
    assert events.read_text().count(" finished") == 2  # the steps had the variable
    assert not workers_of(run) and not any(parent == worker for parent, _ in processes().values())


def test_a_run_never_ordered_goes_with_its_worker(tmp_path, sqlite_uri):
    spec = parse_spec(quadratic_spec(sqlite_uri), base_dir=None)
    with local.started_early(spec, tmp_path / "work", tmp_path / "kfp.log") as run:
        [worker] = wait_for(lambda: workers_of(run))
        assert not run.ordered and run.fits(spec)
    assert run.process.returncode is not None
    wait_for(lambda: not Path(f"/proc/{worker}").exists() or "Z" in Path(f"/proc/{worker}/stat").read_text().split()[2],
             seconds=10)


class InProcessRun:
    """Stands in for a pipeline run: its order trains the trials in this process."""

    made: list["InProcessRun"] = []

    def __init__(self, spec, workdir, log_path, store=None, study_id=""):
        self.spec, self.ordered, self.killed, self.trials = spec, False, False, 0
        self.store, self.study_id = store, study_id
        self.process = type("Exited", (), {"returncode": 0})()
        InProcessRun.made.append(self)

    def fits(self, spec) -> bool:
        return not self.ordered and spec.task == self.spec.task and spec.tracking_uri == self.spec.tracking_uri

    def order(self, spec, trials, report=False):
        self.ordered, self.trials = True, trials
        for _ in range(trials):
            config = study.create_trial(spec, self.store, self.study_id)
            study.analyze_trial(spec, self.store, config, study.train_step(spec, self.store, config))
        return self

    def wait(self, seconds):
        return 0

    def kill(self):
        self.killed = True


@pytest.mark.parametrize("early_uri, used", [("memory://", True), ("memory://elsewhere", False)])
def test_run_to_budget_takes_the_early_run_only_when_it_fits(tmp_path, monkeypatch, early_uri, used):
    spec = parse_spec(quadratic_spec("memory://", budget={"trials": 2, "max_failed_trials": 1}), base_dir=None)
    store = MemoryStudyStore()
    study_id = study.open_study(spec, store).study_id
    InProcessRun.made = []
    monkeypatch.setattr(local, "Chunk", lambda *args: InProcessRun(*args, store=store, study_id=study_id))
    early = InProcessRun(parse_spec(quadratic_spec(early_uri), base_dir=None), tmp_path, tmp_path / "log",
                         store=store, study_id=study_id)
    local.run_to_budget(spec, store, study_id, tmp_path, tmp_path / "log", early=early)
    assert [t.state for t in store.history(study_id)] == [TrialState.FINISHED] * 2
    assert early.ordered is used and early.killed is not used
    assert [r.trials for r in InProcessRun.made if r is not early] == ([] if used else [2])


def test_a_worker_opens_the_store_only_once_the_driver_created_it(tmp_path):
    from agenthpo.pipelines import warm

    database, marker = tmp_path / "new.db", tmp_path / "store-ready"
    process, path = warm.start(f"sqlite:///{database}", "fault_tasks:QUADRATIC", tmp_path, store_marker=str(marker))
    try:
        assert warm.ready(process, path)
        time.sleep(0.5)
        assert not database.exists()  # the driver may be creating the schema: the worker keeps off
        marker.touch()
        wait_for(lambda: database.exists() and database.stat().st_size > 0, seconds=60)
    finally:
        process.kill()
        process.wait()


def test_an_llm_studys_worker_imports_the_openai_sdk_and_no_other_does(tmp_path):
    import subprocess
    import sys

    script = ("import sys; from agenthpo.pipelines import warm; warm.preload('fault_tasks:QUADRATIC'); "
              "print('openai' in sys.modules); warm.preload('fault_tasks:QUADRATIC', uses_llm=True); "
              "print('openai' in sys.modules, 'openai.resources.chat' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "MPLBACKEND": "Agg"})
    assert done.stdout.split("\n")[:2] == ["False", "True True"], done.stdout + done.stderr


def test_a_worker_in_a_deep_folder_listens_in_the_systems_temporary_one(tmp_path):
    """A Unix socket's path has at most 107 bytes: a deep work folder must not cost the warm worker."""
    from agenthpo.pipelines import warm

    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    process, path = warm.start("sqlite:///unused.db", "fault_tasks:QUADRATIC", deep, store_marker=str(deep / "no"))
    try:
        assert warm.ready(process, path) and len(os.fsencode(path)) <= 107
        assert not list(deep.iterdir())  # nothing left behind in the work folder
    finally:
        process.kill()
        process.wait()
