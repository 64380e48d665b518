"""Optuna's distributions and trials as agenthpo's space and history, and back (stdlib-only logic; the
distribution classes are passed in by `agenthpo.integrations.optuna`, which imports Optuna)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from agenthpo.errors import FieldError
from agenthpo.space import CategoricalParam, FloatParam, IntParam, Param, SearchSpace
from agenthpo.trial import TrialRecord, TrialState

# Optuna's trial states as agenthpo's: a WAITING or RUNNING trial is pending (proposers avoid it).
STATES = {"COMPLETE": TrialState.FINISHED, "PRUNED": TrialState.PRUNED, "FAIL": TrialState.FAILED,
          "RUNNING": TrialState.RUNNING, "WAITING": TrialState.RUNNING}
SOURCE_ATTR, RATIONALE_ATTR = "agenthpo:source", "agenthpo:rationale"


def param_of(name: str, distribution: Any) -> Param | None:
    """The agenthpo parameter for an Optuna distribution; None for one it cannot hold (a single value, or
    choices that are not distinct strings, numbers or booleans): those are sampled independently."""
    if distribution.single():
        return None
    kind = type(distribution).__name__
    try:
        if kind == "FloatDistribution":
            return FloatParam(name, float(distribution.low), float(distribution.high), bool(distribution.log))
        if kind == "IntDistribution":
            return IntParam(name, int(distribution.low), int(distribution.high), bool(distribution.log))
        if kind == "CategoricalDistribution":
            return CategoricalParam(name, tuple(distribution.choices))
    except FieldError:  # e.g. a None choice
        return None
    return None


def held(distributions: Mapping[str, Any]) -> dict[str, Any]:
    """The distributions an agenthpo space can hold (`param_of`), in name order."""
    return {name: distributions[name] for name in sorted(distributions)
            if param_of(name, distributions[name]) is not None}


def space_of(distributions: Mapping[str, Any]) -> SearchSpace:
    """The agenthpo space of distributions `held` returned (at least one)."""
    return SearchSpace([param_of(name, distribution) for name, distribution in distributions.items()])


def snap(value: Any, distribution: Any) -> Any:
    """A proposed value as the distribution holds it: on its step grid, inside its bounds, its own type."""
    kind = type(distribution).__name__
    if kind == "CategoricalDistribution":
        return value
    step = getattr(distribution, "step", None)
    low, high = distribution.low, distribution.high
    if step is not None:  # Optuna moves `high` onto the grid when it builds the distribution
        value = low + round((value - low) / step) * step
    value = min(max(value, low), high)
    return int(round(value)) if kind == "IntDistribution" else float(value)


def history_of(trials: Sequence[Any], space: SearchSpace) -> list[TrialRecord]:
    """Optuna's frozen trials as agenthpo's records: those that set every parameter of `space` with the
    same distributions; numbered from 1 as agenthpo numbers trials. A COMPLETE trial without a finite value
    is FAILED (Optuna records a NaN objective as a failure too)."""
    records = []
    for trial in trials:
        state = STATES.get(trial.state.name)
        if state is None or any(name not in trial.params for name in space.names):
            continue
        params = {name: trial.params[name] for name in space.names}
        try:
            params = space.validate(params)
        except FieldError:  # set under a different range earlier (a dynamic space): not comparable
            continue
        value = trial.value if state == TrialState.FINISHED else None
        if state == TrialState.FINISHED and (value is None or not math.isfinite(value)):
            state, value = TrialState.FAILED, None
        records.append(TrialRecord(trial.number + 1, params, state, value,
                                   source=str(trial.user_attrs.get(SOURCE_ATTR, "optuna")),
                                   rationale=str(trial.user_attrs.get(RATIONALE_ATTR, ""))))
    return records
