"""The Executor's training step: train one trial, record its result, never raise for the task's failures.

A crash, a timeout (`budget.trial_timeout`) or a pruned trial is a recorded result; `train_step` adds the
heartbeat and makes the step safe to retry (KFP's retries): a trial is never trained twice.
"""

from __future__ import annotations

import tempfile
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from agenthpo import names
from agenthpo.messages import Trained, TrialConfig
from agenthpo.pruning import PruningMonitor, TrialPruned, monitor_for
from agenthpo.slots import STEP_RETRIES, heartbeats, recorded_result
from agenthpo.spec import StudySpec
from agenthpo.tasks import Task, TrialContext, load_task, objective_value, with_defaults
from agenthpo.trial import TrialState

if TYPE_CHECKING:
    from agenthpo.study import StudyStore


def train_trial(spec: StudySpec, store: StudyStore, config: TrialConfig, task: Task | None = None) -> Trained:
    """The Executor's training step. Any failure of the task becomes a FAILED trial, not an exception;
    so does a train() past `budget.trial_timeout` ("timed out after N s"). A failure to record the
    result (the tracking server still down after the retries) is not the task's: it fails the step,
    and the driver marks the trial INTERRUPTED (`agenthpo.faults`). `task`: the spec's plug-in unless given
    (the Python API's `optimize(fn)` trains the user's function)."""
    from agenthpo import faults

    if not config.proposed:
        return Trained(TrialState.STOPPED, reason=config.reason)
    assert config.proposal is not None  # a PROPOSED config carries its proposal (checked when built)
    trial_id, number = config.trial_id, config.number
    ctx = TrialContext.for_spec(spec)
    started = time.perf_counter()
    faults.note(trial_id, faults.STARTED)
    try:
        task = task if task is not None else load_task(spec.task)
        ctx.on_report = monitor_for(spec, task, lambda metric, known: store.peer_curves(
            config.study_id, metric, known | {trial_id}))
        # A hyperparameter the space leaves out trains with the plug-in's default for it.
        params, _ = with_defaults(task, spec.space.validate(config.proposal.params))
        with faults.deadline(getattr(spec.budget, "trial_timeout", None)):
            metrics = task.train(params, ctx)
        value = objective_value(metrics, spec.objective)
    except TrialPruned as pruned:  # stopped by the spec's pruner: a result, counted, never a failure
        seconds = time.perf_counter() - started
        faults.note(trial_id, faults.TRAINED)
        with faults.recording(trial_id), tempfile.TemporaryDirectory() as folder:
            store.prune_trial(trial_id, pruned.step, pruned.reason, ctx.curves, seconds,
                              curves_plot(spec, ctx, number, folder), reads=_reads(ctx), rungs=pruned.rungs)
        return Trained(TrialState.PRUNED, number, trial_id, reason=pruned.reason, train_seconds=seconds)
    except Exception as exc:  # a crashed trial is a recorded result
        seconds = time.perf_counter() - started
        error = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}"
        faults.note(trial_id, faults.TRAINED)  # over: the driver's timeout backstop waits for the recording
        with faults.recording(trial_id):
            store.fail_trial(trial_id, error, ctx.curves, seconds)
        return Trained(TrialState.FAILED, number, trial_id, error=f"{type(exc).__name__}: {exc}",
                       train_seconds=seconds)
    seconds = time.perf_counter() - started
    faults.note(trial_id, faults.TRAINED)
    with faults.recording(trial_id), tempfile.TemporaryDirectory() as folder:
        reads = _reads(ctx)
        store.finish_trial(trial_id, value, {**metrics, spec.objective.metric: value, **reads}, ctx.curves,
                           seconds, curves_plot(spec, ctx, number, folder))
    return Trained(TrialState.FINISHED, number, trial_id, value=value, train_seconds=seconds)


def curves_plot(spec: StudySpec, ctx: TrialContext, number: int, folder: str) -> Path | None:
    if not ctx.curves:
        return None
    from agenthpo.plots import plot_curves

    return plot_curves(ctx.curves, Path(folder) / "learning_curves.png", f"{spec.name}: trial {number}")


def _reads(ctx: TrialContext) -> dict[str, float]:
    """How often the pruner read the other trials' curves (a metric on the trial; none without a pruner)."""
    monitor = ctx.on_report
    return {names.PRUNER_READS: float(monitor.peers.reads)} if isinstance(monitor, PruningMonitor) else {}


def train_step(spec: StudySpec, store: StudyStore, config: TrialConfig, task: Task | None = None) -> Trained:
    """The training step as a pipeline (or `run_inprocess`) runs it: `train_trial` with a heartbeat, once.

    A trial already FINISHED or FAILED (a retried step) is not trained again: its recorded result is
    returned. One given back (INTERRUPTED, STOPPED, deleted) is not trained (STOPPED). A RUNNING one
    left by a step that died is trained again in the same run, unless STEP_RETRIES steps died on
    it already: then it is FAILED (killed: out of memory, a lost node), so that the pipeline goes on.
    A trial marked INTERRUPTED while it trained (its heartbeat went stale) keeps its late result as
    information only: STOPPED is returned.
    """
    if not config.proposed:
        return train_trial(spec, store, config, task)
    recorded = store.trial(config.trial_id)
    if recorded is None or recorded.state not in (TrialState.RUNNING, TrialState.PROPOSED):
        return recorded_result(config, recorded)
    died = store.start_training(config.trial_id)
    if died >= STEP_RETRIES:
        error = (f"its training step's process died {died} times (killed: out of memory, or its node was "
                 f"lost?); not started again")
        store.fail_trial(config.trial_id, error, {}, 0.0)
        return Trained(TrialState.FAILED, config.number, config.trial_id, error=error)
    with heartbeats(store, config.trial_id):
        trained = train_trial(spec, store, config, task)
    recorded = store.trial(config.trial_id)  # marked INTERRUPTED while it trained: its result came late
    if recorded is not None and recorded.state == TrialState.INTERRUPTED:
        return recorded_result(config, recorded)
    return trained
