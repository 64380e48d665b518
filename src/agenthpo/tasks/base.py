"""Task plug-ins: a plain `train(params, ctx)` with what it reads and reports declared as data.

A plug-in reports per-epoch (or per-boosting-round) metrics through the context and returns its
final metrics, which must include the objective's metric. Heavy imports (xgboost, torch) belong
inside `train`, so that importing a plug-in, or the registry, costs nothing.

The built-in plug-ins subclass `TaskPlugin`, which declares:
  options: the task options it reads (`agenthpo.tasks.options.Option`), each read as `ctx.option(OPTION)`;
  metrics: the final metrics its train() returns (what a spec's objective.metric may name);
  default_space / default_objective: the suggested starting spec (examples/ copy them): a study optimises the
    spec's own space and objective;
  param_defaults: the value train() gets for a default_space hyperparameter the spec's space leaves out
    (`with_defaults`, in the training step); one without a default must be in the space (checked at load);
  pruning_curve / step_name: the reported curve a pruner follows, with its direction, and what a step is;
and gives do-nothing `profile(ctx) -> {}` (the dataset statistics of the Creator's background) and
`check_data(ctx) -> []` (the data contract, `agenthpo.tasks.contracts`, checked before any trial trains).
`agenthpo.tasks.check_task` checks a spec's task_options and objective.metric against the declarations
when the spec loads.

A third-party plug-in may instead be any object with `name`, `description` and `train` (the `Task`
protocol), `profile` and `check_data` optional: it keeps working, its options and metric unchecked.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from agenthpo.errors import FieldError
from agenthpo.space import Scalar, SearchSpace
from agenthpo.tasks.options import Option, check_metric, check_options
from agenthpo.trial import Objective


class TrialContext:
    """What a training function gets besides its parameters, and where it reports its curves."""

    def __init__(self, data: str | None = None, options: Mapping[str, Any] | None = None, seed: int = 0,
                 on_report: Callable[[int, dict[str, float]], None] | None = None, test_data: str | None = None):
        self.data = data
        self.test_data = test_data  # a separate test set, for plug-ins that take one (`takes_test_data`)
        self.options = dict(options or {})
        self.seed = seed
        self.curves: dict[str, list[tuple[int, float]]] = {}
        # The step train() will end at, when the plug-in knows it: a pruner never stops a trial there (it
        # would save nothing and lose the trial's result).
        self.last_step: int | None = None
        # Called after each report (the pruner's monitor, agenthpo.pruning): it may raise TrialPruned.
        self.on_report = on_report

    @classmethod
    def for_spec(cls, spec: Any) -> TrialContext:
        """The context a study's training, profile and contract see."""
        return cls(spec.data, spec.task_options, seed=spec.seed, test_data=spec.test_data)

    def report(self, step: int, **metrics: float) -> None:
        if not isinstance(step, int) or step < 0:
            raise ValueError(f"step={step!r} must be a non-negative integer")
        values = {name: float(value) for name, value in metrics.items()}
        for name, value in values.items():
            self.curves.setdefault(name, []).append((step, value))
        if self.on_report is not None and step != self.last_step:
            self.on_report(step, values)

    def option(self, name: str | Option, default: Any = None) -> Any:
        """A task option. Given its declaration (an `Option`), the value checked or the declared default
        (FieldError at `task_options.<name>` otherwise); given a bare name, as written or `default`
        (for plug-ins without declarations)."""
        if isinstance(name, Option):
            return name.read(self.options)
        return self.options.get(name, default)


@runtime_checkable
class Task(Protocol):
    """What a study needs of a plug-in; `profile(ctx)` and `check_data(ctx)` are optional."""

    name: str
    description: str

    def train(self, params: Mapping[str, Scalar], ctx: TrialContext) -> dict[str, float]: ...


class TaskPlugin:
    """A plug-in whose options and metrics are declared, so a spec is checked before any trial trains."""

    name: str
    description: str
    # The suggested starting spec: documentation, never read at run time.
    default_objective: Objective
    default_space: SearchSpace
    options: tuple[Option, ...] = ()
    metrics: tuple[str, ...] = ()
    # What train() gets for a hyperparameter the spec's space leaves out: usually the library's or paper's default.
    param_defaults: Mapping[str, Scalar] = MappingProxyType({})
    # The curve a pruner follows (agenthpo.pruning) and its direction, and what a step is ("epoch"); None:
    # the objective's metric, if train() reports it per step.
    pruning_curve: tuple[str, str] | None = None
    step_name: str = "step"
    # Modules train() imports that the local runner's warm worker may import once, before it forks the
    # training steps (agenthpo.pipelines.warm). Never torch: its thread pools do not survive a fork.
    warm_imports: tuple[str, ...] = ()
    # The other heavy modules train() imports (torch and what needs it), left to the training step by the
    # warm worker. The benchmark imports both lists before it times a trial: whichever study trains first
    # in a process would otherwise be charged seconds of imports that the others are not.
    late_imports: tuple[str, ...] = ()
    # Whether train() and check_data() read a separate test set from `ctx.test_data` (a spec's test_data).
    takes_test_data: bool = False

    def train(self, params: Mapping[str, Scalar], ctx: TrialContext) -> dict[str, float]:
        raise NotImplementedError(f"task {self.name!r} has no train()")

    def profile(self, ctx: TrialContext) -> dict[str, Any]:
        return {}

    def check_data(self, ctx: TrialContext) -> list:
        return []

    def check_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Every declared option's checked value or default; FieldError `task_options.<name>` for an unknown
        name (with 'did you mean' and the options' help) or a value that breaks its option's rule."""
        return check_options(self.name, self.options, options)

    def check_metric(self, metric: str) -> None:
        """FieldError `objective.metric` unless train() reports `metric`."""
        check_metric(self.name, self.metrics, metric)

    def check_space(self, names: Iterable[str]) -> None:
        """FieldError `space` when it leaves out a default_space hyperparameter that has no default."""
        known: SearchSpace | None = getattr(self, "default_space", None)
        given = set(names)
        missing = [p for p in known or () if p.name not in given and p.name not in self.param_defaults]
        if missing:
            raise FieldError("space", f"leaves out {[p.name for p in missing]}, which task {self.name!r} trains with "
                                      f"and has no default for; add them, e.g. "
                                      f"{ {p.name: p.to_json() for p in missing} }")

    def fill_defaults(self, params: Mapping[str, Scalar]) -> dict[str, Scalar]:
        """`params` and, for each hyperparameter of param_defaults they leave out, its default."""
        return {**params, **{name: value for name, value in self.param_defaults.items() if name not in params}}


def objective_value(metrics: Mapping[str, float], objective: Objective) -> float:
    """The objective's value from a train() result; a missing or non-finite value is an error."""
    if objective.metric not in metrics:
        raise ValueError(f"train() returned no {objective.metric!r} (it returned {sorted(metrics)})")
    value = float(metrics[objective.metric])
    if not math.isfinite(value):
        raise ValueError(f"objective {objective.metric}={value!r} is not a finite number")
    return value
