"""Task plug-ins: a search space, an objective, and a plain `train(params, ctx)`.

A plug-in reports per-epoch (or per-boosting-round) metrics through the context and returns its
final metrics, which must include the objective's metric. Heavy imports (xgboost, torch) belong
inside `train`, so that importing a plug-in, or the registry, costs nothing.

Two optional methods: `profile(ctx) -> dict`, the dataset statistics of the Creator's background
(computed once per study), and `check_data(ctx) -> list[ContractReport]`, the data contract
(`agenthpo.tasks.contracts`) checked before any trial trains.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from agenthpo.space import Scalar, SearchSpace
from agenthpo.trial import Objective


class TrialContext:
    """What a training function gets besides its parameters, and where it reports its curves."""

    def __init__(self, data: str | None = None, options: Mapping[str, Any] | None = None, seed: int = 0,
                 on_report: Callable[[int, dict[str, float]], None] | None = None):
        self.data = data
        self.options = dict(options or {})
        self.seed = seed
        self.curves: dict[str, list[tuple[int, float]]] = {}
        self._on_report = on_report

    def report(self, step: int, **metrics: float) -> None:
        if not isinstance(step, int) or step < 0:
            raise ValueError(f"step={step!r} must be a non-negative integer")
        values = {name: float(value) for name, value in metrics.items()}
        for name, value in values.items():
            self.curves.setdefault(name, []).append((step, value))
        if self._on_report is not None:
            self._on_report(step, values)

    def option(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)


@runtime_checkable
class Task(Protocol):
    name: str
    objective: Objective
    space: SearchSpace
    description: str

    def train(self, params: Mapping[str, Scalar], ctx: TrialContext) -> dict[str, float]: ...


def int_option(options: Mapping[str, Any], name: str, default: int, minimum: int = 1) -> int:
    value = options.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"task_options.{name}={value!r} must be an integer >= {minimum}")
    return value


def fraction_option(options: Mapping[str, Any], name: str, default: float, high: float = 0.5) -> float:
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < value < high:
        raise ValueError(f"task_options.{name}={value!r} must be a number in (0, {high:g})")
    return float(value)


def bool_option(options: Mapping[str, Any], name: str, default: bool) -> bool:
    value = options.get(name, default)
    if not isinstance(value, bool):
        raise ValueError(f"task_options.{name}={value!r} must be true or false")
    return value


def size_cap(ctx: TrialContext, option: str, available: int) -> int:
    """How many of `available` items to use: task_options[option] if set, else all of them."""
    wanted = ctx.option(option)
    if wanted is None:
        return available
    if not isinstance(wanted, int) or wanted < 1:
        raise ValueError(f"task_options.{option}={wanted!r} must be an integer >= 1")
    return min(wanted, available)


def subset(items: Sequence[Any], count: int, seed: int) -> list[Any]:
    """A seeded subset of `count` items in their original order (the same for every trial)."""
    if count >= len(items):
        return list(items)
    chosen = np.sort(np.random.default_rng(seed).choice(len(items), size=count, replace=False))
    return [items[i] for i in chosen]


def objective_value(metrics: Mapping[str, float], objective: Objective) -> float:
    """The objective's value from a train() result; a missing or non-finite value is an error."""
    if objective.metric not in metrics:
        raise ValueError(f"train() returned no {objective.metric!r} (it returned {sorted(metrics)})")
    value = float(metrics[objective.metric])
    if not math.isfinite(value):
        raise ValueError(f"objective {objective.metric}={value!r} is not a finite number")
    return value
