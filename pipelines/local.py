"""Run a study pipeline on KFP's local runner (one subprocess per step, no cluster).

Each pipeline run (a chunk of at most CHUNK_TRIALS trials: the pipeline never unrolls the whole budget)
runs in a child process of its own, in a new process group (`agenthpo.pipelines.chunk`), KFP's output
going to the log; its step processes are in that group. `agenthpo tune` starts the first one early
(`started_early`), so that KFP's and the warm worker's imports overlap the driver's own start. The driver
(`run_to_budget`) watches the group and stops it whole:
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

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from agenthpo.pipelines.chunk import Chunk

from agenthpo import faults
from agenthpo.slots import current_driver
from agenthpo.spec import StudySpec
from agenthpo.trial import TrialState

CHUNK_TRIALS = 20  # trials per pipeline run
GRACE_ENV = "AGENTHPO_TIMEOUT_GRACE_SECONDS"  # the backstop's wait past trial_timeout (default 60 s)
DEFAULT_GRACE = 60.0
POLL_SECONDS, WATCH_SECONDS = 0.2, 2.0


class PipelineFailed(RuntimeError):
    """A step's process failed (not a training error: those are recorded trials)."""


def timeout_grace() -> float:
    return faults.env_seconds(GRACE_ENV, DEFAULT_GRACE)


@contextmanager
def started_early(spec: StudySpec, workdir: Path, log_path: Path) -> Iterator[Chunk]:
    """The first pipeline run's process, started now for `run_to_budget(early=...)`; killed on the way out
    if it was never given its trials (the budget was used already, or the driver stopped first)."""
    chunk = Chunk(spec, workdir, log_path)
    try:
        yield chunk
    finally:
        if not chunk.ordered:
            chunk.kill()


def run_local(spec: StudySpec, trials: int, workdir: Path, log_path: Path, report: bool = False) -> Path:
    """Run `trials` iterations as one pipeline run; KFP's own output goes to log_path (it is verbose). With
    `report`, the pipeline is the compiled one's shape, its report step included. Where KFP wrote the run's
    outputs."""
    chunk = Chunk(spec, workdir, log_path).order(spec, trials, report)
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
                  per_run: int | None = None, early: Chunk | None = None) -> None:
    """Run pipeline runs of at most CHUNK_TRIALS trials until the current generation's budget is used, the
    study stops on failures, or this driver opened `per_run` trials (a scheduled run's share). `early`: a
    pipeline run's process started beforehand (`started_early`), used for the first run if it fits the spec.

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
        if early is not None and not early.fits(spec):
            early.kill()  # started for another store, task or LLM use: a fresh one
            early = None
        chunk, early = early or Chunk(spec, workdir, log_path), None
        chunk.order(spec, min(CHUNK_TRIALS, left))
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
