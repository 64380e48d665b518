"""What a study's steps hand each other: small frozen value objects, each with one JSON round trip.

    open_study -> StudyOpened
    create_round -> Round (of TrialConfig)        the Creator's artifact
    train_trial(TrialConfig) -> Trained           the Executor's training step
    analyze_trial(TrialConfig, Trained) -> Analyzed
    report_study -> Reported

In a pipeline each crosses a process (or pod) boundary as JSON: components only load and dump them.
Every message checks itself when built, so a malformed one fails where it is made or read, naming the
field (`agenthpo.errors.FieldError`), not three steps later as a KeyError.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from agenthpo.errors import FieldError, prefixed
from agenthpo.trial import Proposal, TrialState


class StopKind(StrEnum):
    """Why the Creator opened no (further) trial."""

    BUDGET = "budget"  # budget.trials counted trials exist
    FAILURES = "failures"  # budget.max_failed_trials reached


def _state(value: Any, allowed: tuple[TrialState, ...]) -> TrialState:
    try:
        state = TrialState(value)
    except ValueError:
        raise FieldError("state", f"{value!r} is not a trial state; use one of {[s.value for s in TrialState]}") \
            from None
    if state not in allowed:
        raise FieldError("state", f"{state.value!r} cannot be here; expected one of {[s.value for s in allowed]}")
    return state


@dataclass(frozen=True)
class StudyOpened:
    """The study's run, created or resumed, and how much of its current generation's budget is used.
    `began`: why this open began a new data generation ('' when it did not)."""

    study_id: str
    trials_used: int = 0
    trials_failed: int = 0
    generation: int = 1
    began: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.study_id, str) or not self.study_id:
            raise FieldError("study_id", f"{self.study_id!r} must be the study run's id")
        if not isinstance(self.generation, int) or self.generation < 1:
            raise FieldError("generation", f"{self.generation!r} must be an integer >= 1")

    def to_json(self) -> dict[str, Any]:
        return {"study_id": self.study_id, "trials_used": self.trials_used, "trials_failed": self.trials_failed,
                "generation": self.generation, "began": self.began}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StudyOpened:
        return cls(data["study_id"], int(data.get("trials_used", 0)), int(data.get("trials_failed", 0)),
                   int(data.get("generation", 1)), str(data.get("began", "")))


@dataclass(frozen=True)
class TrialConfig:
    """One training step's input: a trial opened for a proposal (state PROPOSED), or no trial at all
    (state STOPPED, with the reason: the budget is used, the study stopped on failures, or a round's
    slot the remaining budget did not fill)."""

    study_id: str
    state: TrialState = TrialState.PROPOSED
    number: int = 0
    trial_id: str = ""
    proposal: Proposal | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", _state(self.state, (TrialState.PROPOSED, TrialState.STOPPED)))
        if self.state == TrialState.PROPOSED:
            if self.proposal is None or not self.trial_id:
                raise FieldError("proposal", "a PROPOSED trial needs its proposal and its trial run's id")
            if not isinstance(self.number, int) or self.number < 1:
                raise FieldError("number", f"{self.number!r} must be the trial's number, >= 1")

    @classmethod
    def stopped(cls, study_id: str, reason: str) -> TrialConfig:
        return cls(study_id, TrialState.STOPPED, reason=reason)

    @property
    def proposed(self) -> bool:
        return self.state == TrialState.PROPOSED

    def to_json(self) -> dict[str, Any]:
        return {"study_id": self.study_id, "state": self.state.value, "number": self.number,
                "trial_id": self.trial_id, "reason": self.reason,
                "proposal": None if self.proposal is None else self.proposal.to_json()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrialConfig:
        with prefixed("proposal"):
            proposal = None if data.get("proposal") is None else Proposal.from_json(data["proposal"])
        return cls(data["study_id"], data.get("state", TrialState.PROPOSED), int(data.get("number", 0)),
                   data.get("trial_id", ""), proposal, data.get("reason", ""))


@dataclass(frozen=True)
class Round:
    """The Creator step's result: the trials it opened (one per training slot), or why it opened none."""

    study_id: str
    configs: tuple[TrialConfig, ...] = ()
    stop: StopKind | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "configs", tuple(self.configs))
        if self.stop is not None:
            object.__setattr__(self, "stop", StopKind(self.stop))
            if self.configs:
                raise FieldError("configs", "a round that stops opens no trial")
        elif not self.configs:
            raise FieldError("configs", "a round opens at least one trial unless it stops (give `stop`)")

    def slot(self, index: int) -> TrialConfig:
        """The index-th training step's input; a slot this round did not fill is STOPPED."""
        if 0 <= index < len(self.configs):
            return self.configs[index]
        return TrialConfig.stopped(self.study_id, self.reason or f"no configuration for slot {index}")

    def to_json(self) -> dict[str, Any]:
        return {"study_id": self.study_id, "configs": [c.to_json() for c in self.configs],
                "stop": None if self.stop is None else self.stop.value, "reason": self.reason}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Round:
        configs = []
        for index, config in enumerate(data.get("configs", ())):
            with prefixed(f"configs[{index}]"):
                configs.append(TrialConfig.from_json(config))
        return cls(data["study_id"], tuple(configs), data.get("stop"), data.get("reason", ""))


@dataclass(frozen=True)
class Trained:
    """The training step's result: FINISHED with the objective's value, FAILED with the error, PRUNED with
    the pruner's reason, or STOPPED when there was nothing to train (with why)."""

    state: TrialState
    number: int = 0
    trial_id: str = ""
    value: float | None = None
    error: str = ""
    train_seconds: float = 0.0
    reason: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", _state(self.state, (TrialState.FINISHED, TrialState.FAILED,
                                                              TrialState.PRUNED, TrialState.STOPPED)))
        if self.state == TrialState.FINISHED and (self.value is None or not math.isfinite(self.value)):
            raise FieldError("value", f"{self.value!r}: a FINISHED trial needs a finite objective value")

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state.value, "number": self.number, "trial_id": self.trial_id, "value": self.value,
                "error": self.error, "train_seconds": self.train_seconds, "reason": self.reason}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Trained:
        return cls(data["state"], int(data.get("number", 0)), data.get("trial_id", ""), data.get("value"),
                   data.get("error", ""), float(data.get("train_seconds", 0.0)), data.get("reason", ""))


@dataclass(frozen=True)
class Analyzed:
    """The Executor's analysis: the curve's verdict and the note written on the trial run."""

    state: TrialState
    number: int = 0
    verdict: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", _state(self.state, (TrialState.FINISHED, TrialState.FAILED,
                                                              TrialState.PRUNED, TrialState.STOPPED)))

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state.value, "number": self.number, "verdict": self.verdict, "note": self.note}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Analyzed:
        return cls(data["state"], int(data.get("number", 0)), data.get("verdict", ""), data.get("note", ""))


@dataclass(frozen=True)
class BestTrial:
    number: int
    value: float
    params: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "value": self.value, "params": dict(self.params)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BestTrial:
        return cls(int(data["number"]), float(data["value"]), dict(data["params"]))


@dataclass(frozen=True)
class Reported:
    """The report step's result: the markdown written on the study run, its summary metrics, the best
    trial, and (when the study stopped on failures) why."""

    study_id: str
    markdown: str
    summary: Mapping[str, float] = field(default_factory=dict)
    best: BestTrial | None = None
    stopped: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"study_id": self.study_id, "markdown": self.markdown, "summary": dict(self.summary),
                "best": None if self.best is None else self.best.to_json(), "stopped": self.stopped}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Reported:
        best = data.get("best")
        return cls(data["study_id"], data["markdown"], dict(data.get("summary", {})),
                   None if best is None else BestTrial.from_json(best), data.get("stopped", ""))
