"""What stops a trial or a study from outside its task: a signal, a deadline, a tracking outage.

- `StopSignal`: SIGINT or SIGTERM to a driver (`agenthpo tune`), raised in its main thread by `raising_signals`.
- `deadline(seconds)`: a trial's `budget.trial_timeout`, as SIGALRM raising `TrialTimeout` inside train().
- `TrackingUnavailable`: the tracking server did not answer within the retry budget (`agenthpo.tracking.retry`).
- Step notes: what a training step tells the driver that runs it on KFP's local runner, as empty files in the
  folder named by `$AGENTHPO_STEP_NOTES` (nothing is written without it, e.g. in a pod on a cluster):
  `<trial_id>.started` when a training step starts on it (touched again by a retried step: the driver's
  timeout backstop counts from it), `<trial_id>.trained` once train() returned (the backstop then waits for
  the recording), `<trial_id>.unrecorded` when the result could not be written (the driver marks the
  trial INTERRUPTED, not FAILED).

Only the standard library: the core imports this without KFP or MLflow.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def env_seconds(name: str, default: float, positive: bool = False) -> float:
    """A duration from the environment variable `name`; `default` when unset or not a number. Negative values
    count as 0, or with `positive` (an interval) anything not in (0, inf) as `default`."""
    text = os.environ.get(name, "").strip()
    try:
        value = float(text) if text else default
    except ValueError:
        return default
    if positive:
        return value if 0 < value < math.inf else default
    return max(value, 0.0)

NOTES_ENV = "AGENTHPO_STEP_NOTES"
STARTED, TRAINED, UNRECORDED = "started", "trained", "unrecorded"
# The exit status of a process stopped by a signal, as a shell reports it: 128 + the signal's number.
EXIT_SIGINT, EXIT_SIGTERM = 128 + signal.SIGINT, 128 + signal.SIGTERM


class StopSignal(BaseException):
    """SIGINT or SIGTERM reached the driver. A BaseException, like KeyboardInterrupt: no `except Exception`
    on the way may swallow it. `trials` is filled by whoever marked running trials INTERRUPTED."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.trials: list[int] = []

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


@contextmanager
def raising_signals(signums: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """Within the block, the given signals raise StopSignal in the main thread; the old handlers return after."""
    def stop(signum, frame):
        raise StopSignal(signum)

    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    previous = {signum: signal.signal(signum, stop) for signum in signums}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def signals_held(signums: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """Within the block, the given signals wait (a cleanup that must not be cut short); they arrive after."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, signums)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class TrialTimeout(Exception):
    """train() ran past `budget.trial_timeout`: a failed trial, counted like any other failure. Not a
    TimeoutError: that is an OSError, which a plug-in's `except OSError` around reading a file would swallow."""

    def __init__(self, seconds: float):
        super().__init__(timed_out(seconds))
        self.seconds = seconds


def timed_out(seconds: float) -> str:
    return f"timed out after {seconds:g} s"


@contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Raise TrialTimeout in this thread after `seconds` (None or 0: no deadline).

    SIGALRM interrupts Python code and the blocking calls that return to Python on a signal (sleep, I/O);
    a hang inside C code that ignores signals is left to the driver's backstop (it kills the step's
    process group). Only in the main thread (where Python runs signal handlers); elsewhere, no deadline.
    An outer SIGALRM timer (a test runner's) is kept: left alone when it comes first, else restored after
    the block with what is left of it, with its handler.
    """
    if not seconds or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return
    outer, interval = signal.getitimer(signal.ITIMER_REAL)
    if outer and outer <= seconds:  # the outer alarm rings first anyway
        yield
        return

    def expire(signum, frame):
        raise TrialTimeout(seconds)

    previous = signal.signal(signal.SIGALRM, expire)
    started = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - started), 1e-3), interval)


class TrackingUnavailable(RuntimeError):
    """The tracking server did not answer (connection refused, timeouts, 5xx) for the whole retry budget."""


def note(trial_id: str, kind: str) -> None:
    """Leave a step note for the driver (nothing without $AGENTHPO_STEP_NOTES)."""
    folder = os.environ.get(NOTES_ENV)
    if folder and trial_id:
        try:
            (Path(folder) / f"{trial_id}.{kind}").touch()
        except OSError:  # a note is a hint to the driver, never a reason to fail the step
            pass


def noted(folder: Path, trial_id: str, kind: str) -> float | None:
    """When the step last left this note (seconds since the epoch), None if it did not."""
    try:
        return (folder / f"{trial_id}.{kind}").stat().st_mtime
    except OSError:
        return None


@contextmanager
def recording(trial_id: str) -> Iterator[None]:
    """Around writing a trained trial's result: a tracking outage past the retry budget leaves the note
    `unrecorded` and fails the step (the driver marks the trial INTERRUPTED: not counted, not FAILED)."""
    try:
        yield
    except TrackingUnavailable:
        note(trial_id, UNRECORDED)
        raise
