"""A study's trial slots shared by any number of drivers: the rules both stores apply (claims, heartbeats).

- **Claims.** A trial is numbered by claiming its number (a create-if-absent in the store; see
  `agenthpo.tracking.claims` for MLflow's); the budget counts claimed slots (`slots_taken`): a slot
  holds until its trial is given back (INTERRUPTED, STOPPED, or its run deleted). A claimed number
  whose trial the reader cannot see finished yet holds: pessimistic, so never an overrun.
- **Drivers.** Whatever opens trials (an `agenthpo tune` process and the step processes it starts, a KFP
  run on a cluster) tags them with its id (`become_driver`), so that it can tell its trials from others'.
- **Heartbeats.** While a trial trains, `heartbeats` writes `store.heartbeat` every `heartbeat_seconds()`
  from a daemon thread. A RUNNING trial is stale (`is_stale`) when its last beat is older than
  STALE_BEATS intervals, or, never having beaten, when it was opened more than STARTUP_BEATS intervals
  ago (a pod may wait that long for a node). Only stale trials are marked INTERRUPTED by a resume.

Only the standard library and the core's value objects: no MLflow, no KFP.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from agenthpo.faults import env_seconds
from agenthpo.messages import Trained, TrialConfig
from agenthpo.trial import TrialRecord, TrialState

HEARTBEAT_ENV = "AGENTHPO_HEARTBEAT_SECONDS"
DEFAULT_HEARTBEAT_SECONDS = 30.0
STALE_BEATS = 4  # a beating trial is stale after 4 missed intervals (2 minutes by default)
STARTUP_BEATS = 20  # a trial that never beat: 20 intervals after it was opened (10 minutes by default)
DRIVER_ENV = "AGENTHPO_DRIVER"
STEP_RETRIES = 2  # KFP's retries of a pipeline step; a training step that died this often is a failed trial
# States whose slot is given back to the budget; every other state (and a claim whose run is not numbered
# yet) holds its slot.
GIVEN_BACK = (TrialState.INTERRUPTED, TrialState.STOPPED)


@dataclass(frozen=True)
class Claim:
    """What claiming a trial slot gave: the number and the trial's run, and whether it is within the
    budget (`granted`); a claim past the budget is given back at once (its run STOPPED and deleted)."""

    number: int
    trial_id: str
    granted: bool
    reason: str = ""


def heartbeat_seconds() -> float:
    """The heartbeat interval: $AGENTHPO_HEARTBEAT_SECONDS (seconds > 0), else 30."""
    return env_seconds(HEARTBEAT_ENV, DEFAULT_HEARTBEAT_SECONDS, positive=True)


def poll_seconds() -> float:
    """How long a driver waits before it looks again at slots held by other drivers' running trials."""
    return min(5.0, heartbeat_seconds())


def is_stale(now: float, started: float, beat: float | None, interval: float | None = None) -> bool:
    """A RUNNING trial presumed dead: no heartbeat for STALE_BEATS intervals, or none at all STARTUP_BEATS
    intervals after it was opened. Times in seconds since the epoch (the clocks of different machines are
    compared: they must agree to well within an interval)."""
    interval = interval if interval and interval > 0 else heartbeat_seconds()
    if beat is not None:
        return now - beat > STALE_BEATS * interval
    return now - started > STARTUP_BEATS * interval


def holds_slot(state: TrialState | None) -> bool:
    """Whether a claimed trial in this state takes a slot of the budget (None: its run is gone)."""
    return state is not None and state not in GIVEN_BACK


def slots_taken(claims: Mapping[int, str], states: Mapping[str, TrialState], numbered: Mapping[int, TrialState],
                below: int | None = None) -> int:
    """How many slots numbered below `below` (all, without it) are taken.

    Args:
        claims: claimed number -> the trial run that claimed it.
        states: trial run id -> its state, for the study's runs that are not deleted (a run not yet
            numbered is PROPOSED: it holds).
        numbered: number -> state of numbered runs, for numbers without a claim (studies begun before claims).
    """
    def counted(number: int) -> bool:
        return below is None or number < below

    taken = sum(holds_slot(states.get(run_id)) for number, run_id in claims.items() if counted(number))
    return taken + sum(holds_slot(state) for number, state in numbered.items()
                       if counted(number) and number not in claims)


def become_driver() -> str:
    """Make this process a driver with a new id, exported as $AGENTHPO_DRIVER so that the step processes
    it starts (KFP's local runner) tag the trials they open with it; the id."""
    driver = os.environ[DRIVER_ENV] = f"local-{uuid.uuid4().hex[:12]}"
    return driver


def current_driver(fallback: str = "") -> str:
    """The driver a step works for: $AGENTHPO_DRIVER when its driver exported one (the local runner), else
    `fallback` (the KFP run id on a cluster)."""
    return os.environ.get(DRIVER_ENV, "").strip() or fallback


@contextmanager
def heartbeats(store, trial_id: str, interval: float | None = None) -> Iterator[None]:
    """Within the block, `store.heartbeat(trial_id, interval)` every `interval` seconds (first at once),
    from a daemon thread. A failed beat (a tracking outage) is skipped: the next one tries again."""
    interval = interval if interval and interval > 0 else heartbeat_seconds()
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            try:
                store.heartbeat(trial_id, interval)
            except Exception:  # noqa: BLE001 (a beat must never end the training)
                pass
            stop.wait(interval)

    thread = threading.Thread(target=beat, name=f"agenthpo-heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=min(interval, 2.0))


def recorded_result(config: TrialConfig, recorded: TrialRecord | None) -> Trained:
    """What a training step answers for a trial that has ended (or was given back: None) without training it."""
    number, trial_id = config.number, config.trial_id
    if recorded is not None and recorded.state == TrialState.FINISHED:
        return Trained(TrialState.FINISHED, number, trial_id, value=recorded.value,
                       train_seconds=recorded.train_seconds or 0.0)
    if recorded is not None and recorded.state == TrialState.FAILED:
        return Trained(TrialState.FAILED, number, trial_id, error=recorded.error,
                       train_seconds=recorded.train_seconds or 0.0)
    if recorded is not None and recorded.state == TrialState.PRUNED:
        return Trained(TrialState.PRUNED, number, trial_id, reason=recorded.pruned_reason,
                       train_seconds=recorded.train_seconds or 0.0)
    state = "given back" if recorded is None else recorded.state.value
    return Trained(TrialState.STOPPED, number, trial_id, reason=f"trial {number} is {state}: not counted")
