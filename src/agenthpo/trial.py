"""Value objects shared by proposers, tracking and reports: objective, proposals and trial records."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from agenthpo.errors import FieldError, did_you_mean
from agenthpo.space import Scalar

# Where a configuration came from: the Creator (llm), TPE standing in for an unusable Creator answer
# (fallback), random search, TPE, the agent's Gaussian-process search (gp), the spec's start, or a
# configuration found before, retrained first (warm_start: agenthpo.generations).
SOURCES = ("llm", "fallback", "random", "tpe", "gp", "start", "warm_start")


@dataclass(frozen=True)
class Objective:
    """The metric to optimise (as the task's train() reports it) and its direction.

    Raises:
        FieldError: `metric` when it is not a non-empty string; `direction` when it is neither 'maximize' nor
            'minimize' (with a 'did you mean': 'maximise' -> 'maximize'). The spec adds `objective.`.
    """

    metric: str
    direction: str = "maximize"

    def __post_init__(self) -> None:

        if not isinstance(self.metric, str) or not self.metric.strip():
            raise FieldError("metric", f"{self.metric!r} must be a non-empty string: the name of a metric the "
                                       f"task reports, e.g. 'accuracy'")
        if self.direction not in ("maximize", "minimize"):
            raise FieldError("direction", f"{self.direction!r} must be 'maximize' or 'minimize'"
                                          f"{did_you_mean(self.direction, ('maximize', 'minimize'))}")

    @property
    def maximize(self) -> bool:
        return self.direction == "maximize"

    def better(self, a: float, b: float) -> bool:
        """True when a is strictly better than b."""
        return a > b if self.maximize else a < b

    def best_of(self, values: Sequence[float]) -> float:
        return max(values) if self.maximize else min(values)

    def to_json(self) -> dict[str, str]:
        return {"metric": self.metric, "direction": self.direction}


@dataclass(frozen=True)
class Proposal:
    """A configuration to train, where it came from and why."""

    params: Mapping[str, Scalar]
    source: str
    rationale: str = ""
    # What producing it cost and how it went (LLM tokens, repair rounds); logged on the trial run.
    metrics: Mapping[str, float] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise FieldError("source", f"{self.source!r} is not one of {list(SOURCES)}")
        object.__setattr__(self, "params", dict(self.params))

    def to_json(self) -> dict[str, Any]:
        return {"params": dict(self.params), "source": self.source, "rationale": self.rationale,
                "metrics": dict(self.metrics), "tags": dict(self.tags)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Proposal:
        return cls(params=data["params"], source=data["source"], rationale=data.get("rationale", ""),
                   metrics=data.get("metrics", {}), tags=data.get("tags", {}))


class TrialState(StrEnum):
    """A trial's life: PROPOSED by the Creator, RUNNING once its run is opened, then FINISHED, PRUNED (stopped
    early by the spec's pruner, `agenthpo.pruning`) or FAILED (all three counted against the budget; only
    FAILED against `max_failed_trials`), INTERRUPTED when its process was killed (not counted: the budget
    gives it back), or STOPPED when the study stopped before it (the slot of a round that had nothing
    left to train). The values are what the `agenthpo.state` tag holds, in MLflow's status spelling."""

    PROPOSED = "PROPOSED"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    PRUNED = "PRUNED"
    INTERRUPTED = "INTERRUPTED"
    STOPPED = "STOPPED"

    @property
    def counts_against_budget(self) -> bool:
        """The one rule for the budget and `max_failed_trials`: only trained trials count."""
        return self in (TrialState.FINISHED, TrialState.FAILED, TrialState.PRUNED)


@dataclass(frozen=True)
class TrialRecord:
    """One past trial as the proposers and the report see it (read back from tracking)."""

    number: int
    params: Mapping[str, Scalar]
    state: TrialState
    value: float | None = None
    source: str = ""
    run_id: str = ""
    facts: Mapping[str, Any] = field(default_factory=dict)
    error: str = ""
    train_seconds: float | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    repair: str = ""  # how the Creator's answer went: none, repaired, fallback ('' without an LLM)
    rationale: str = ""  # why its proposer chose it (the Creator's own words for `llm`)
    pruned_step: int | None = None  # PRUNED: the step it stopped at, and why (the pruner's words)
    pruned_reason: str = ""
    generation: int = 1  # the data generation it trained on (agenthpo.generations)

    def __post_init__(self) -> None:
        if self.state == TrialState.FINISHED and (self.value is None or not math.isfinite(self.value)):
            raise ValueError(f"trial {self.number}: a FINISHED trial needs a finite value, got {self.value!r}")

    @property
    def finished(self) -> bool:
        return self.state == TrialState.FINISHED


def finished(history: Sequence[TrialRecord]) -> list[TrialRecord]:
    return [t for t in history if t.finished]


def best_trial(history: Sequence[TrialRecord], objective: Objective) -> TrialRecord | None:
    best: TrialRecord | None = None
    for trial in finished(history):
        if best is None or objective.better(trial.value, best.value):  # type: ignore[arg-type]
            best = trial
    return best
