"""One line per trial while `agenthpo tune` runs."""

from __future__ import annotations

import sys
import threading

from agenthpo.spec import StudySpec


class ProgressPrinter(threading.Thread):
    """Prints one line per trial as its result lands in MLflow (the pipeline runs in subprocesses)."""

    def __init__(self, spec: StudySpec, store, study_id: str, interval: float = 0.5):
        super().__init__(daemon=True)
        self.spec, self.store, self.study_id, self.interval = spec, store, study_id, interval
        # Captured now: the lines go where tune's own output goes.
        self.out = sys.stdout
        self.shown: set[int] = {t.number for t in store.history(study_id) if t.state.value != "RUNNING"}
        self.best = None
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            self.poll()

    def stop(self, wait: float | None = None) -> None:
        """No more polling; the last lines are printed (unless a poll is still stuck after `wait` seconds,
        e.g. retrying through a tracking outage)."""
        self.stopping.set()
        if self.is_alive():
            self.join(wait)
        if not self.is_alive():
            self.poll()

    def poll(self) -> None:
        from agenthpo.trial import TrialState

        try:
            history = self.store.history(self.study_id)
        except Exception:  # a busy SQLite file: try again at the next tick
            return
        objective = self.spec.objective
        for trial in history:
            if trial.number in self.shown:
                continue
            if trial.state == TrialState.FINISHED and not trial.facts:
                continue  # wait for the analysis
            if trial.state == TrialState.RUNNING:
                continue
            self.shown.add(trial.number)
            head = f"  trial {trial.number:>3}/{self.spec.budget.trials:<3} {trial.source:<8}"
            if trial.state == TrialState.FINISHED:
                if self.best is None or objective.better(trial.value, self.best):
                    self.best = trial.value
                print(f"{head} {objective.metric}={trial.value:<10.5g} best={self.best:<10.5g} "
                      f"{trial.train_seconds or 0:6.1f}s  {trial.facts.get('verdict', '')}", file=self.out, flush=True)
            else:
                print(f"{head} {trial.state.value:<8} {trial.error[:100]}", file=self.out, flush=True)
