"""One line per trial while `agenthpo tune` runs, and which LLM call it waits for (a local model may take minutes).

The history is read when a trial event says a record changed (`agenthpo.trial_events`), and otherwise only
every FALLBACK_SECONDS (another driver's trials): at 10,000 trials a read every tick would hold a core.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from agenthpo.generations import earlier_slots
from agenthpo.llm.waiting import read_status
from agenthpo.spec import StudySpec
from agenthpo.trial_events import FALLBACK_SECONDS, TrialEvents

WAIT_SHOWN_AFTER = 5.0  # seconds of an LLM call before it is shown
WAIT_REPEAT_EVERY = 30.0  # not on a terminal: one more line per this many seconds of the same call


class ProgressPrinter(threading.Thread):
    """Prints one line per trial as its result lands in MLflow (the pipeline runs in subprocesses)."""

    def __init__(self, spec: StudySpec, store, study_id: str, interval: float = 0.5,
                 llm_status: str | Path | None = None, events: str | Path | None = None):
        super().__init__(daemon=True)
        self.spec, self.store, self.study_id, self.interval = spec, store, study_id, interval
        self.llm_status = Path(llm_status) if llm_status else None  # `agenthpo.llm.waiting`'s status file
        self.events = TrialEvents(events) if events else None  # None: the history is read at every tick
        self.next_read = time.monotonic() + FALLBACK_SECONDS
        self.wait_line = ""  # on a terminal: the waiting line shown now (rewritten in place)
        self.wait_printed: tuple[str, float, float] | None = None  # elsewhere: (agent, started, elapsed) last printed
        # Captured now: the lines go where tune's own output goes.
        self.out = sys.stdout
        history = store.history(study_id)
        self.shown: set[int] = {t.number for t in history if t.state.value != "RUNNING"}
        # The last trial number of the current generation's budget (its trials are numbered after the earlier ones').
        self.last = spec.budget.trials + earlier_slots(history, store.generation(study_id).number)
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
            self._clear()

    def poll(self) -> None:
        from agenthpo.trial import TrialState

        history = []
        if self._news():
            try:
                history = self.store.history(self.study_id)
            except Exception:  # a busy SQLite file: try again at the next tick
                self.next_read = 0.0
        objective = self.spec.objective
        for trial in history:
            if trial.number in self.shown:
                continue
            if trial.state in (TrialState.FINISHED, TrialState.PRUNED) and not trial.facts:
                continue  # wait for the analysis
            if trial.state == TrialState.RUNNING:
                continue
            self.shown.add(trial.number)
            self._clear()
            head = f"  trial {trial.number:>3}/{self.last:<3} {trial.source:<8}"
            if trial.state == TrialState.FINISHED:
                if self.best is None or objective.better(trial.value, self.best):
                    self.best = trial.value
                print(f"{head} {objective.metric}={trial.value:<10.5g} best={self.best:<10.5g} "
                      f"{trial.train_seconds or 0:6.1f}s  {trial.facts.get('verdict', '')}", file=self.out, flush=True)
            elif trial.state == TrialState.PRUNED:
                print(f"{head} PRUNED   {trial.pruned_reason[:140]}  "
                      f"{trial.train_seconds or 0:6.1f}s", file=self.out, flush=True)
            else:
                print(f"{head} {trial.state.value:<8} {trial.error[:100]}", file=self.out, flush=True)
        if not self.stopping.is_set():
            self._show_waiting()

    def _news(self) -> bool:
        """Whether to read the history now: an event came, the slow look is due, or this is the last look."""
        now = time.monotonic()
        changed = self.events is None or self.events.changed()
        if changed or now >= self.next_read or self.stopping.is_set():
            self.next_read = now + FALLBACK_SECONDS
            return True
        return False

    def _show_waiting(self) -> None:
        status = read_status(self.llm_status) if self.llm_status else None
        if status is None or status[1] < WAIT_SHOWN_AFTER:
            self._clear()
            return
        agent, elapsed = status
        line = f"  ... {agent} (LLM) answering: {elapsed:.0f} s"
        if self._tty():
            print("\r" + line.ljust(len(self.wait_line)), end="", file=self.out, flush=True)
            self.wait_line = line
            return
        started, last = time.time() - elapsed, self.wait_printed
        if last is None or last[0] != agent or abs(last[1] - started) > 1.0 or elapsed - last[2] >= WAIT_REPEAT_EVERY:
            print(line, file=self.out, flush=True)
            self.wait_printed = (agent, started, elapsed)

    def _tty(self) -> bool:
        try:
            return bool(self.out.isatty())
        except (AttributeError, ValueError):  # no isatty, or a closed stream
            return False

    def _clear(self) -> None:
        """Blank the waiting line on a terminal, so that a trial's line (or what follows) starts clean."""
        if self.wait_line:
            print("\r" + " " * len(self.wait_line) + "\r", end="", file=self.out, flush=True)
            self.wait_line = ""
