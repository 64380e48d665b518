"""A trial handed out by `Study.ask()`: its number and parameters, and where the user's loop reports.

It lives between `ask` and `tell`: a heartbeat marks it alive in the meantime (another driver would
otherwise take it for a dead process's and interrupt it), its curves gather in a `TrialContext`, and the
study's pruner, when the spec has one, decides at each `report` (`should_prune()` says what it decided).
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from types import MappingProxyType
from typing import Any

from agenthpo.messages import TrialConfig
from agenthpo.pruning import TrialPruned, monitor_for
from agenthpo.slots import heartbeats
from agenthpo.tasks import TrialContext


class AskedTrial:
    """One running trial of the user's own loop (Optuna's `Trial`, for ask/tell).

    Attributes: `number` (1, 2, ...), `params` (read-only), `source` (which proposer chose it) and
    `rationale` (why), `trial_id` (its MLflow run). Raises RuntimeError once told.
    """

    def __init__(self, spec: Any, store: Any, config: TrialConfig, task: Any):
        assert config.proposal is not None  # ask() hands out proposed trials only
        self.config = config
        self.number, self.trial_id = config.number, config.trial_id
        self.params = MappingProxyType(dict(config.proposal.params))
        self.source, self.rationale = config.proposal.source, config.proposal.rationale
        self.ctx = TrialContext.for_spec(spec)
        self.ctx.on_report = monitor_for(spec, task, lambda metric, known: store.peer_curves(
            config.study_id, metric, known | {config.trial_id}))
        self.pruned: TrialPruned | None = None
        self.started = time.perf_counter()
        self._alive = ExitStack()
        self._alive.enter_context(heartbeats(store, config.trial_id))
        self.told = False

    def report(self, step: int, **metrics: float) -> None:
        """Record metrics at `step` (an epoch, a boosting round): they become the trial's curves in MLflow."""
        self._check_open("report")
        try:
            self.ctx.report(step, **metrics)
        except TrialPruned as pruned:  # kept: should_prune() says it, tell(..., state="pruned") records it
            self.pruned = self.pruned or pruned

    def should_prune(self) -> bool:
        """Whether the study's pruner stopped this trial at a report (False when the spec has none)."""
        return self.pruned is not None

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def close(self) -> None:
        """Stop the heartbeat: the trial has been told (or is given up)."""
        self.told = True
        self._alive.close()

    def _check_open(self, what: str) -> None:
        if self.told:
            raise RuntimeError(f"trial {self.number} has been told already: {what}() is for a running trial")

    def __repr__(self) -> str:
        return f"AskedTrial(number={self.number}, params={dict(self.params)}, source={self.source!r})"
