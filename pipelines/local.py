"""Run a study pipeline on KFP's local runner (one subprocess per step, no cluster).

Each pipeline run (a chunk of at most CHUNK_TRIALS trials: the pipeline never unrolls the whole budget)
runs in a child process of its own, in a new process group (`python -m agenthpo.pipelines.local`),
KFP's output going to the log; its step processes are in that group. The driver (`run_to_budget`)
watches the group and stops it whole:
- a signal to the driver (StopSignal, KeyboardInterrupt): the group is killed, the trials this driver
  opened and that are still RUNNING are marked INTERRUPTED (not counted), and the exception goes on;
- a trial RUNNING past `budget.trial_timeout` + a grace (a hang the step's own deadline could not stop,
  e.g. in C code): the group is killed, the trial recorded FAILED "timed out after N s", the other
  running trials of the chunk INTERRUPTED, and the rest of the budget goes to a new pipeline run;
- a run that failed (a step process died past KFP's retries: OOM kill, segfault): a trial whose step died
  training is recorded FAILED; one that had trained, its result unrecorded (the tracking server down),
  or that never started, is INTERRUPTED, not counted.
The steps tell the driver where they are through notes (`agenthpo.faults`) in the chunk's folder.
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from agenthpo import faults
from agenthpo.messages import Round
from agenthpo.slots import current_driver
from agenthpo.spec import StudySpec
from agenthpo.trial import TrialState

CHUNK_TRIALS = 20  # trials per pipeline run
GRACE_ENV = "AGENTHPO_TIMEOUT_GRACE_SECONDS"  # the backstop's wait past trial_timeout (default 60 s)
DEFAULT_GRACE = 60.0
WARM_ENV = "AGENTHPO_WARM_WORKER"  # 0: no warm worker for the steps (each step imports everything itself)
POLL_SECONDS, WATCH_SECONDS, KILL_GRACE = 0.2, 2.0, 5.0
_STEP_EXITS, _PIPELINE_ERROR = "step-exits.txt", "pipeline-error.txt"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


class PipelineFailed(RuntimeError):
    """A step's process failed (not a training error: those are recorded trials)."""


def timeout_grace() -> float:
    return faults.env_seconds(GRACE_ENV, DEFAULT_GRACE)


class Chunk:
    """One pipeline run of `trials` iterations in its own process group, with its outputs and notes."""

    def __init__(self, spec: StudySpec, trials: int, workdir: Path, log_path: Path, report: bool = False):
        workdir.mkdir(parents=True, exist_ok=True)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        (workdir / "outputs").mkdir(exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix="run-", dir=workdir / "outputs"))
        self.notes = self.root / "notes"
        self.notes.mkdir()
        self.log_path, self.trials = log_path, trials
        # The spec as a file (no command-line length limit), in a folder only this user can enter (mkdtemp).
        order = self.root / "chunk.json"
        order.write_text(json.dumps({"spec": spec.to_json(), "trials": trials, "root": str(self.root / "kfp"),
                                     "report": report,
                                     "driver": os.getpid(),
                                     "workspace": tempfile.mkdtemp(prefix="workspace-", dir=workdir)}))
        with open(log_path, "a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "agenthpo.pipelines.local", str(order)], stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, faults.NOTES_ENV: str(self.notes)})
        self._opened: set[str] = set()
        self._read: set[Path] = set()

    def wait(self, seconds: float) -> int | None:
        """The exit status once the run ended, else None after `seconds`."""
        try:
            return self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """SIGTERM to the whole group (the runner and every step process), SIGKILL to what is left."""
        with faults.signals_held():
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=KILL_GRACE)
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def opened(self) -> set[str]:
        """The trial runs this run's Creators opened (read from their outputs)."""
        for path in (self.root / "kfp").rglob("config"):
            if path in self._read or not path.is_file():
                continue
            try:
                proposed = Round.from_json(json.loads(path.read_text()))
            except (OSError, ValueError, KeyError):  # still being written: read it at the next look
                continue
            self._read.add(path)
            self._opened.update(config.trial_id for config in proposed.configs)
        return set(self._opened)

    def noted(self, trial_id: str, kind: str) -> float | None:
        return faults.noted(self.notes, trial_id, kind)

    def training(self, trial_id: str) -> float | None:
        """Since when the trial's (latest) training step trains, None when none does."""
        started = self.noted(trial_id, faults.STARTED)
        over = max(self.noted(trial_id, faults.TRAINED) or 0.0, self.noted(trial_id, faults.UNRECORDED) or 0.0)
        return started if started is not None and started > over else None

    def failure(self) -> str:
        """What failed, said plainly: the step processes' exit statuses, else KFP's message (no colours)."""
        exits = self.notes / _STEP_EXITS
        steps = sorted(set(exits.read_text().split("\n")) - {""}) if exits.exists() else []
        error = self.notes / _PIPELINE_ERROR
        what = "; ".join(steps) or (error.read_text().strip() if error.exists() else "") or \
            f"the pipeline runner exited with status {self.process.returncode}"
        return f"{what} (KFP log: {self.log_path})"


def run_local(spec: StudySpec, trials: int, workdir: Path, log_path: Path, report: bool = False) -> Path:
    """Run `trials` iterations as one pipeline run; KFP's own output goes to log_path (it is verbose). With
    `report`, the pipeline is the compiled one's shape, its report step included. Where KFP wrote the run's
    outputs."""
    chunk = Chunk(spec, trials, workdir, log_path, report)
    try:
        while chunk.wait(1.0) is None:
            pass
    except BaseException:
        chunk.kill()
        raise
    if chunk.process.returncode != 0:
        raise PipelineFailed(chunk.failure())
    return chunk.root / "kfp"


def run_to_budget(spec: StudySpec, store, study_id: str, workdir: Path, log_path: Path,
                  on_failure: Callable[[PipelineFailed, list[int]], None] | None = None,
                  per_run: int | None = None) -> None:
    """Run pipeline runs of at most CHUNK_TRIALS trials until the current generation's budget is used, the
    study stops on failures, or this driver opened `per_run` trials (a scheduled run's share).

    A run whose step process died has its RUNNING trials marked FAILED (INTERRUPTED when only the
    recording failed) and the remaining budget goes to a new pipeline run; two failed runs in a row
    that start no trial raise PipelineFailed. A signal or KeyboardInterrupt stops the run's processes,
    marks its running trials INTERRUPTED (a StopSignal's `trials` lists them) and is raised again.
    """
    from agenthpo import study

    attempts_without_progress = 0
    while True:
        history = store.history(study_id)
        current = study.current_trials(store, study_id, history)
        if study.stop_reason(spec, current)[0]:
            return
        left = spec.budget.trials - study.counted(current)[0]
        if per_run is not None:
            left = min(left, per_run - len(store.opened_by(study_id, current_driver())))
            if left <= 0:
                return
        chunk = Chunk(spec, min(CHUNK_TRIALS, left), workdir, log_path)
        try:
            timed_out = _watch(chunk, spec, store, study_id)
        except BaseException as exc:
            chunk.kill()
            stop = exc if isinstance(exc, faults.StopSignal) else None
            why = f"the driver was stopped ({stop.name if stop else type(exc).__name__})"
            with suppress(Exception):  # the tracking server may be down too: then a resume marks them
                numbers = _interrupt(chunk, store, study_id, why)
                if stop is not None:
                    stop.trials = numbers
            raise
        if timed_out or chunk.process.returncode == 0:
            attempts_without_progress = 0
            continue
        failed = PipelineFailed(chunk.failure())
        crashed = _settle(chunk, store, study_id, f"the step's process failed: {failed}")
        if on_failure is not None:
            on_failure(failed, crashed)
        progressed = len(store.history(study_id)) > len(history)
        attempts_without_progress = 0 if progressed else attempts_without_progress + 1
        if attempts_without_progress >= 2:
            raise failed


def _watch(chunk: Chunk, spec: StudySpec, store, study_id: str) -> bool:
    """Wait for the run to end; True when it was killed for a trial past its timeout (recorded FAILED)."""
    timeout = getattr(spec.budget, "trial_timeout", None)
    grace, settled, next_look = timeout_grace(), set(), 0.0
    while chunk.wait(POLL_SECONDS) is None:
        if not timeout or time.monotonic() < next_look:
            continue
        next_look = time.monotonic() + WATCH_SECONDS
        started = {trial_id: chunk.training(trial_id) for trial_id in chunk.opened() if trial_id not in settled}
        late = {trial_id: at for trial_id, at in started.items() if at and time.time() - at > timeout + grace}
        if not late:
            continue
        try:
            running = {t.run_id for t in store.history(study_id) if t.state == TrialState.RUNNING}
        except faults.TrackingUnavailable:  # an outage is no reason to kill a trial: look again later
            continue
        settled.update(set(late) - running)
        hung = [trial_id for trial_id in late if trial_id in running]
        if hung:
            chunk.kill()
            for trial_id in hung:
                store.fail_trial(trial_id, f"TrialTimeout: {faults.timed_out(timeout)} (train() did not stop at "
                                           f"its deadline; its step's processes were killed {grace:g} s later)",
                                 {}, time.time() - late[trial_id])
            _interrupt(chunk, store, study_id, "another trial of its pipeline run timed out, and the run was stopped")
            return True
    return False


def _interrupt(chunk: Chunk, store, study_id: str, why: str) -> list[int]:
    """Mark the run's trials still RUNNING INTERRUPTED (not counted); their numbers."""
    opened, numbers = chunk.opened(), []
    for trial in store.history(study_id):
        # False when it had ended meanwhile (a store that settles ends once); None from older stores.
        if trial.run_id in opened and trial.state == TrialState.RUNNING and \
                store.mark_interrupted(trial.run_id, why) is not False:
            numbers.append(trial.number)
    return numbers


def _settle(chunk: Chunk, store, study_id: str, error: str) -> list[int]:
    """After a failed run, its trials still RUNNING: FAILED (counted) when their step died training; else
    INTERRUPTED (not counted): training was over and only the recording failed (a tracking outage is never
    the task's failure), or it never started. The numbers of the FAILED ones."""
    opened, crashed = chunk.opened(), []
    for trial in store.history(study_id):
        if trial.run_id not in opened or trial.state != TrialState.RUNNING:
            continue
        if chunk.training(trial.run_id) is not None:
            store.fail_trial(trial.run_id, error, {}, 0.0)
            crashed.append(trial.number)
        elif chunk.noted(trial.run_id, faults.STARTED):
            store.mark_interrupted(trial.run_id, "its training was over but its result could not be recorded "
                                                 "(the tracking server did not answer)")
        else:
            store.mark_interrupted(trial.run_id, f"its pipeline run failed before it trained ({error})")
    return crashed


def mark_study_interrupted(store, study_id: str, why: str) -> None:
    """The study run stopped by a signal: KILLED (not RUNNING), with why in `agenthpo.stopped`."""
    from agenthpo import names

    store.client.set_tag(study_id, names.STOPPED, why)
    store.client.set_terminated(study_id, status="KILLED")


def _describe_exit(code: int) -> str:
    """How a step's process ended; KFP runs it under `sh -c`, which reports death by signal N as 128 + N."""
    number = -code if code < 0 else code - 128 if 128 < code < 160 else 0
    try:
        name = signal.Signals(number).name if number else ""
    except ValueError:
        name = ""
    if not name:
        return f"exited with status {code}"
    details = ([f"exit status {code}"] if code > 0 else []) + (["out of memory?"] if number == signal.SIGKILL else [])
    return f"was killed by {name}" + (f" ({'; '.join(details)})" if details else "")


def _die_with_driver(driver: int) -> None:
    """The run's process group goes when its driver goes, even by SIGKILL (no orphan finishes a trial that
    a resume marked INTERRUPTED): on Linux the kernel sends this process SIGTERM when its parent dies
    (PR_SET_PDEATHSIG), and SIGTERM here kills the whole group."""
    signal.signal(signal.SIGTERM, lambda signum, frame: os.killpg(0, signal.SIGKILL))
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != driver:  # the driver went before the line above
        os.killpg(0, signal.SIGKILL)


def _main(order_path: str) -> int:
    """The child: one pipeline run on KFP's local runner (stdout and stderr are the log)."""
    order = json.loads(Path(order_path).read_text())
    _die_with_driver(order["driver"])

    from agenthpo.pipelines.study_pipeline import build_pipeline
    from kfp import local
    from kfp.local import subprocess_task_handler

    notes = Path(os.environ[faults.NOTES_ENV])
    run_step = subprocess_task_handler.run_local_subprocess

    def recorded(*args, **kwargs) -> int:  # KFP keeps only success or failure: keep how a step ended
        code = run_step(*args, **kwargs)
        if code != 0:
            with open(notes / _STEP_EXITS, "a") as f:
                f.write(f"a step's process {_describe_exit(code)}\n")
        return code

    subprocess_task_handler.run_local_subprocess = recorded
    spec = StudySpec.from_json(order["spec"])
    worker = _start_worker(spec, Path(order["workspace"]))
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=order["root"],
               workspace_root=order["workspace"], raise_on_error=True)
    # No report step for `agenthpo tune`: its driver writes the report once, after its last pipeline run.
    pipeline = build_pipeline(spec, order["trials"], report=bool(order.get("report", False)))
    try:
        pipeline()
    except RuntimeError as exc:
        (notes / _PIPELINE_ERROR).write_text(_ANSI.sub("", str(exc)))
        return 1
    finally:
        if worker is not None:
            worker.kill()
            worker.wait()
    return 0


def _start_worker(spec: StudySpec, folder: Path) -> subprocess.Popen | None:
    """The run's warm worker (`agenthpo.pipelines.warm`), its socket exported to the steps; None when
    $AGENTHPO_WARM_WORKER is 0 (every step then imports what it needs, as on a cluster)."""
    from agenthpo.components.handoff import SOCKET_ENV
    from agenthpo.pipelines import warm

    if os.environ.get(WARM_ENV, "1").strip() == "0":
        os.environ.pop(SOCKET_ENV, None)
        return None
    process, path = warm.start(spec.tracking_uri, spec.task, folder)
    os.environ[SOCKET_ENV] = path
    return process


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1]))
