"""`Study`: one study driven from Python, recording exactly what `agenthpo tune` records.

`optimize(fn)` runs the same steps as `tune` in this process (Creator, training, the Executor's
analysis; the final report at the end); `ask()` / `tell()` let the user's own loop train. Both claim
each trial's slot first (`agenthpo.slots`), so any number of processes may work on one study.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from typing import Any

from agenthpo import study as steps
from agenthpo.api.trial import AskedTrial
from agenthpo.errors import FieldError
from agenthpo.executor import analyze_trial
from agenthpo.messages import Reported, Trained
from agenthpo.spec import StudySpec
from agenthpo.tasks import load_task, objective_value
from agenthpo.tasks.python_function import PYTHON_TASK, TrainFunction, UserFunction, as_metrics
from agenthpo.trial import TrialRecord, TrialState, best_trial

TOLD_STATES = ("finished", "failed", "pruned")


class StudyStopped(RuntimeError):
    """ask() on a study that may start no trial: its budget is used, or too many trials failed."""


class Study:
    """A study in a tracking store (made by `agenthpo.create_study` / `agenthpo.load_study`)."""

    def __init__(self, spec: StudySpec, store: Any, study_id: str):
        self.spec, self.store, self.study_id = spec, store, study_id

    @property
    def name(self) -> str:
        return self.spec.name

    # -- what has been recorded ------------------------------------------------------------------------
    @property
    def trials(self) -> list[TrialRecord]:
        """Every trial as recorded now, in number order."""
        return sorted(self.store.history(self.study_id), key=lambda t: t.number)

    @property
    def best_trial(self) -> TrialRecord:
        """The best finished trial of the current data generation (`.number`, `.params`, `.value`; a value
        measured on older data is never compared: `agenthpo.generations`); ValueError while none has finished."""
        best = best_trial(steps.current_trials(self.store, self.study_id), self.spec.objective)
        if best is None:
            raise ValueError(f"study {self.name!r} has no finished trial yet: run optimize() or tell() a result")
        return best

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.best_trial.params)

    @property
    def best_value(self) -> float:
        return float(self.best_trial.value)  # type: ignore[arg-type]

    def trials_dataframe(self):
        """The trials as a pandas DataFrame, one row per trial (Optuna's columns where they exist)."""
        import pandas as pd

        from agenthpo.api.frame import trial_rows

        return pd.DataFrame(trial_rows(self.trials, self.spec))

    def to_optuna(self, storage: str | None = None, study_name: str | None = None):
        """The ended trials as an Optuna study (in `storage`, default in memory), for Optuna's charts and
        dashboard (`agenthpo.integrations.optuna.to_optuna`)."""
        from agenthpo.integrations.optuna import to_optuna

        return to_optuna(self, storage=storage, study_name=study_name)

    def stop_reason(self) -> str:
        """Why no further trial may start ('' while the study goes on)."""
        return steps.stop_reason(self.spec, steps.current_trials(self.store, self.study_id))[1]

    # -- running trials -----------------------------------------------------------------------------------
    def optimize(self, fn: TrainFunction | None = None, n_trials: int | None = None, *, report: bool = True) -> None:
        """Run trials until the budget is used (or `n_trials` more have run), then write the report.

        `fn(params, ctx)` trains one configuration and returns its metrics (a dict with the objective's
        metric) or the objective's value; it may call `ctx.report(step, **metrics)`. A study whose spec
        names a task plug-in is run without `fn`. A trial whose `fn` raises is recorded FAILED and the
        study goes on (until budget.max_failed_trials); KeyboardInterrupt marks the trials it opened
        INTERRUPTED (not counted) and is raised again.

        Raises:
            TypeError / ValueError: `fn` or `n_trials` do not fit this study (before anything is recorded).
        """
        task = self._task(fn)
        if n_trials is not None and (not isinstance(n_trials, int) or isinstance(n_trials, bool) or n_trials < 1):
            raise ValueError(f"optimize(n_trials={n_trials!r}): give a positive integer, or None for the whole budget")
        ran = 0
        while n_trials is None or ran < n_trials:
            slots = self.spec.parallel if n_trials is None else min(self.spec.parallel, n_trials - ran)
            proposed = steps.create_round(self.spec, self.store, self.study_id, slots=slots)
            if proposed.stop is not None:
                break
            for index, config in enumerate(proposed.configs):
                try:
                    trained = steps.train_step(self.spec, self.store, config, task)
                except BaseException:
                    for left in proposed.configs[index:]:
                        self.store.mark_interrupted(left.trial_id, "optimize() was interrupted")
                    raise
                analyze_trial(self.spec, self.store, config, trained)
                ran += 1
        if report:
            self.report()

    def ask(self) -> AskedTrial:
        """Open the next trial: its configuration comes from the study's proposer (the Creator).

        Raises:
            StudyStopped: the budget is used, or budget.max_failed_trials trials failed.
        """
        proposed = steps.create_round(self.spec, self.store, self.study_id, slots=1)
        if proposed.stop is not None:
            raise StudyStopped(f"study {self.name!r}: {proposed.reason}; no trial may start "
                               f"(create the study again with a larger budget to go on)")
        task = load_task(self.spec.task)
        return AskedTrial(self.spec, self.store, proposed.configs[0], task)

    def tell(self, trial: AskedTrial, metrics: Mapping[str, float] | float | None = None, *,
             state: str = "finished", error: str = "") -> TrialRecord | None:
        """Record an asked trial's end and write the Executor's analysis; the trial as recorded.

        `state`: 'finished' with `metrics` (a dict with the objective's metric, or its value), 'failed'
        (with `error`, what went wrong) or 'pruned' (after `trial.should_prune()`, or the loop's own
        decision). A trial interrupted meanwhile (its heartbeat went stale) keeps the result as information.

        Raises:
            ValueError / TypeError: naming the argument and the value, before anything is recorded.
        """
        if not isinstance(trial, AskedTrial) or trial.config.study_id != self.study_id:
            raise ValueError(f"tell(trial={trial!r}): tell a trial this study's ask() returned")
        trial._check_open("tell")
        if state not in TOLD_STATES:
            raise ValueError(f"tell(state={state!r}): one of {list(TOLD_STATES)}")
        values = None
        if state == "finished":
            values = as_metrics(metrics, self.spec.objective.metric, "tell(metrics)")
            values[self.spec.objective.metric] = objective_value(values, self.spec.objective)
        trial.close()
        with tempfile.TemporaryDirectory() as folder:
            trained = self._record(trial, state, values, error, folder)
        analyze_trial(self.spec, self.store, trial.config, trained)
        return self.store.trial(trial.trial_id)

    def _record(self, trial: AskedTrial, state: str, values: dict[str, float] | None, error: str,
                folder: str) -> Trained:
        store, ctx, seconds, number = self.store, trial.ctx, trial.seconds, trial.number
        plot = steps.curves_plot(self.spec, ctx, number, folder)
        if state == "finished":
            assert values is not None
            value = values[self.spec.objective.metric]
            store.finish_trial(trial.trial_id, value, values, ctx.curves, seconds, plot)
            return Trained(TrialState.FINISHED, number, trial.trial_id, value=value, train_seconds=seconds)
        if state == "failed":
            error = error.strip() or "failed (told by the user's loop, no error given)"
            store.fail_trial(trial.trial_id, error, ctx.curves, seconds)
            return Trained(TrialState.FAILED, number, trial.trial_id, error=error.splitlines()[0],
                           train_seconds=seconds)
        steps_seen = [step for curve in ctx.curves.values() for step, _ in curve]
        step = trial.pruned.step if trial.pruned else max(steps_seen, default=0)
        reason = trial.pruned.reason if trial.pruned else f"stopped by the user's loop at step {step}"
        store.prune_trial(trial.trial_id, step, reason, ctx.curves, seconds, plot, reads={},
                          rungs=trial.pruned.rungs if trial.pruned else None)
        return Trained(TrialState.PRUNED, number, trial.trial_id, reason=reason, train_seconds=seconds)

    def report(self) -> Reported:
        """Write the study's report on its MLflow run (and the LLM's final analysis when the Creator is one)."""
        return steps.report_study(self.spec, self.store, self.study_id)

    def _task(self, fn: TrainFunction | None):
        if fn is None:
            if self.spec.task == PYTHON_TASK:
                raise TypeError(f"optimize(): study {self.name!r} is trained by your code (task 'python'): pass "
                                f"fn(params, ctx), or use ask()/tell()")
            return None
        if self.spec.task != PYTHON_TASK:
            raise FieldError("task", f"study {self.name!r} trains the plug-in {self.spec.task!r}: call optimize() "
                                     f"without a function, or create a study without `task` for your own function")
        return UserFunction(fn, self.spec.objective.metric)

    def __repr__(self) -> str:
        return f"Study(name={self.name!r}, study_id={self.study_id!r}, tracking_uri={self.spec.tracking_uri!r})"
