"""Early stopping: stop a hopeless trial while it trains, and say why (the spec's `pruner:`).

A rule is asked at each `ctx.report` of the watched curve (the plug-in's `pruning_curve`, usually the
validation metric per epoch or boosting round, or the spec's `pruner.metric`) and compares the trial with
the other trials of the study at the same step:
- `median` (Katib's median stopping rule as Optuna's MedianPruner has it): once `n_startup_trials` trials
  have finished, after `n_warmup_steps`, at the first report in each interval of `interval_steps` steps:
  stop when the trial's best value so far is worse than the median of the finished trials' values at
  this step.
- `asha` (asynchronous successive halving, Optuna's SuccessiveHalvingPruner): rungs at steps
  `min_resource * reduction_factor ** (min_early_stopping_rate + k)`; at each rung a trial goes on only
  while its value is in the best 1/`reduction_factor` of the values every trial had at that rung (the
  first trials at a rung, fewer than `reduction_factor`, go on only as the best of them). A trial stopped
  at a rung competes at no rung above it, even where its last report lies past them (`Peer.rungs`).
In a sequential study both decide as Optuna's pruners do on the same reports, sparse steps included
(tests/test_pruning_optuna.py), except that a diverged (non-finite) value stops a trial at once. With
parallel slots they compare with the ended trials only (Optuna's ASHA also sees the running ones).
A stopped trial raises `TrialPruned` out of `ctx.report`, so a plug-in's training loop needs nothing
more; the training step records it as PRUNED (`agenthpo.pruned`, the step and the reason). It counts
against the budget as Optuna counts pruned trials, never as a failure.

The other trials' curves come from the store (`PeerCurves`): finished and pruned trials never change, so
each is read once per training step, and the list of newly ended ones at most every REFRESH_SECONDS.
"""

from __future__ import annotations

import bisect
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agenthpo.analysis import Curve
from agenthpo.errors import FieldError, did_you_mean, reject_unknown
from agenthpo.trial import Objective

NONE, MEDIAN, ASHA = "none", "median", "asha"
# The options each rule reads (syne-tune's _ARGUMENT_KEYS), their defaults and their minimums, in one place.
_ARGUMENT_KEYS = {NONE: (), MEDIAN: ("n_startup_trials", "n_warmup_steps", "interval_steps"),
                  ASHA: ("min_resource", "reduction_factor", "min_early_stopping_rate")}
_COMMON_KEYS = ("metric", "direction")
_DEFAULT_OPTIONS = {"n_startup_trials": 5, "n_warmup_steps": 0, "interval_steps": 1, "min_resource": 1,
                    "reduction_factor": 3, "min_early_stopping_rate": 0}
_CONSTRAINTS = {"n_startup_trials": 0, "n_warmup_steps": 0, "interval_steps": 1, "min_resource": 1,
                "reduction_factor": 2, "min_early_stopping_rate": 0}
REFRESH_SECONDS = 30.0


class TrialPruned(Exception):  # noqa: N818 (Optuna's name, which users know)
    """Raised out of `ctx.report` when the pruner stops the trial: the training step records it as PRUNED."""

    def __init__(self, step: int, value: float, reason: str, rungs: int | None = None):
        """`rungs`: for a trial ASHA stopped, how many rungs it competed at (recorded: `Peer.rungs`)."""
        super().__init__(reason)
        self.step, self.value, self.reason, self.rungs = step, value, reason, rungs


@dataclass(frozen=True)
class PrunerSpec:
    """The spec's `pruner:` section: a rule's name and its options (defaults filled in).

    Raises:
        FieldError: `name` when it is not one of none, median, asha; `<option>` for an option the rule
            does not read (with 'did you mean'), an integer option below its minimum, a `metric` that is not
            a non-empty string, or a `direction` that is neither 'maximize' nor 'minimize'.
    """

    name: str = NONE
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.name not in _ARGUMENT_KEYS:
            raise FieldError("name", f"{self.name!r} is not one of {list(_ARGUMENT_KEYS)}"
                                     f"{did_you_mean(str(self.name), _ARGUMENT_KEYS)}")
        reject_unknown(self.options, (*_ARGUMENT_KEYS[self.name], *_COMMON_KEYS))
        checked: dict[str, Any] = {k: _DEFAULT_OPTIONS[k] for k in _ARGUMENT_KEYS[self.name]}
        for key, value in self.options.items():
            if key == "metric" and (not isinstance(value, str) or not value.strip()):
                raise FieldError(key, f"{value!r} must be the name of a curve the task reports, e.g. "
                                      f"'validation_accuracy'")
            if key == "direction" and value not in ("maximize", "minimize"):
                raise FieldError(key, f"{value!r} must be 'maximize' or 'minimize' (how the curve improves)")
            if key in _CONSTRAINTS and (not isinstance(value, int) or isinstance(value, bool)
                                        or value < _CONSTRAINTS[key]):
                raise FieldError(key, f"{value!r} must be an integer >= {_CONSTRAINTS[key]}")
            checked[key] = value
        object.__setattr__(self, "options", checked)

    @property
    def enabled(self) -> bool:
        return self.name != NONE

    @classmethod
    def from_json(cls, data: Any) -> PrunerSpec:
        """From a name (`pruner: median`) or a mapping with `name` and the rule's options."""
        if data is None or isinstance(data, str):
            return cls(data or NONE)
        if isinstance(data, Mapping) and isinstance(data.get("name"), str):
            return cls(data["name"], {str(k): v for k, v in data.items() if k != "name"})
        raise FieldError("", f"{data!r} must be a name ({', '.join(_ARGUMENT_KEYS)}) or a mapping with 'name', "
                             f"e.g. {{name: median, n_startup_trials: 3}}")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, **self.options}


@dataclass(frozen=True)
class Peer:
    """Another trial's watched curve (sorted by step), and whether it finished (median compares with finished
    ones only). `rungs`: for a trial ASHA stopped, how many rungs it competed at, the last being the one it
    failed; None: every rung its curve reaches (one report can pass several rungs, so the curve alone
    cannot say where a stopped trial failed)."""

    number: int
    finished: bool
    curve: Curve
    rungs: int | None = None

    def __post_init__(self) -> None:
        # Looked up at every report of every trial: by bisection, not a scan of the curve.
        object.__setattr__(self, "_steps", [step for step, _ in self.curve])

    def value_at(self, step: int, exact: bool) -> float | None:
        """The value at `step` (exact), or at the curve's first step at or past `step`."""
        steps: list[int] = self._steps  # type: ignore[attr-defined]
        index = bisect.bisect_left(steps, step)
        if index == len(steps) or (exact and steps[index] != step):
            return None
        return self.curve[index][1]


class Rule:
    """A pruning rule over plain curves: `decide` gives the reason to stop, or None to go on."""

    def __init__(self, spec: PrunerSpec, metric: str, maximize: bool, step_name: str = "step"):
        self.options, self.metric, self.step_name = spec.options, metric, step_name
        self.objective = Objective(metric, "maximize" if maximize else "minimize")
        self.name = spec.name
        self.rung = 0  # asha: the rungs this trial has passed (each is judged once, when the trial reaches it)
        # asha: the rungs this trial's value has competed at (its TrialPruned's `rungs`); None for median
        self.competed: int | None = 0 if self.name == ASHA else None

    def decide(self, own: Curve, peers: Sequence[Peer]) -> str | None:
        if not own or self.name == NONE:
            return None
        step, latest = own[-1]
        if not math.isfinite(latest):  # a diverged curve never recovers its way back into the comparison
            return f"{self.metric} is {latest} at {self.step_name} {step}"
        return self._median(own, peers) if self.name == MEDIAN else self._asha(own, peers)

    def _median(self, own: Curve, peers: Sequence[Peer]) -> str | None:
        step, o = own[-1][0], self.options
        finished = [p for p in peers if p.finished]
        if len(finished) < o["n_startup_trials"] or step < o["n_warmup_steps"]:
            return None
        if not _first_in_interval(own, o["n_warmup_steps"], o["interval_steps"]):
            return None
        at_step = [v for v in (p.value_at(step, exact=True) for p in finished) if v is not None and not math.isnan(v)]
        if not at_step:
            return None
        best, median = self.objective.best_of([v for _, v in own]), statistics.median(at_step)
        if not self.objective.better(median, best):
            return None
        word = "below" if self.objective.maximize else "above"
        return (f"{self.metric} {best:.4g} (its best so far) at {self.step_name} {step}, {word} the median "
                f"{median:.4g} of {len(at_step)} finished trials at {self.step_name} {step}")

    def _asha(self, own: Curve, peers: Sequence[Peer]) -> str | None:
        step, value, o = own[-1][0], own[-1][1], self.options
        while True:
            rung_step = o["min_resource"] * o["reduction_factor"] ** (o["min_early_stopping_rate"] + self.rung)
            if step < rung_step:
                return None
            # A trial's value at a rung is its value when it first reached it (here: now).
            others = [v for v in (p.value_at(rung_step, exact=False) for p in peers
                                  if p.rungs is None or self.rung < p.rungs) if v is not None and not math.isnan(v)]
            competing = sorted([*others, value], reverse=self.objective.maximize)
            self.competed = self.rung + 1
            cut = competing[max(len(competing) // o["reduction_factor"] - 1, 0)]
            if self.objective.better(cut, value):
                return (f"{self.metric} {value:.4g} at {self.step_name} {step} (rung {self.rung}) is not in the "
                        f"best 1/{o['reduction_factor']} of {len(competing)} trials there (the cut is {cut:.4g})")
            self.rung += 1


def _first_in_interval(own: Curve, warmup: int, interval: int) -> bool:
    """Whether the last report of `own` is the trial's first in its interval (Optuna's rule): the intervals
    start at warmup, warmup + interval, ...; a task that reports at steps 1, 3, 5 with interval 2 is judged
    at each, not never (its steps are never multiples of 2)."""
    step = own[-1][0]
    start = (step - warmup) // interval * interval + warmup
    # Asked at every report of XGBoost's boosting rounds: max over the points runs in C (steps compare first).
    latest = max(own[:-1], default=(-1, 0.0))[0]
    if latest == step:  # this step reported again: Optuna compares with the other steps
        latest = max((s for s, _ in own if s != step), default=-1)
    return latest < start


class PeerCurves:
    """The other trials' watched curves, read once each: `load(known)` returns the ended trials not in `known`
    (run id -> Peer); the list of ended trials is asked for again at most every `refresh_seconds`."""

    def __init__(self, load: Callable[[set[str]], Mapping[str, Peer]], refresh_seconds: float = REFRESH_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self._load, self._refresh, self._clock = load, refresh_seconds, clock
        self._peers: dict[str, Peer] = {}
        self._read_at: float | None = None
        self.reads = 0

    def get(self) -> list[Peer]:
        now = self._clock()
        if self._read_at is None or now - self._read_at >= self._refresh:
            self._peers.update(self._load(set(self._peers)))
            self._read_at, self.reads = now, self.reads + 1
        return list(self._peers.values())


class PruningMonitor:
    """`TrialContext`'s on_report hook: follows the watched curve and raises TrialPruned when the rule says."""

    def __init__(self, rule: Rule, peers: PeerCurves):
        self.rule, self.peers = rule, peers
        self.own: list[tuple[int, float]] = []
        self.reported = False

    def __call__(self, step: int, values: Mapping[str, float]) -> None:
        first, self.reported = not self.reported, True
        if self.rule.metric not in values:
            if first:  # a misspelt curve would never prune: say so at the first report
                raise ValueError(f"pruner.metric={self.rule.metric!r} is not a curve the task reports (it "
                                 f"reports {sorted(values)}); set pruner.metric to one of them")
            return
        self.own.append((step, float(values[self.rule.metric])))
        reason = self.rule.decide(self.own, self.peers.get())
        if reason is not None:
            raise TrialPruned(step, self.own[-1][1], reason, self.rule.competed)


def monitor_for(spec: Any, task: Any, load: Callable[[str, set[str]], Mapping[str, Peer]]
                ) -> PruningMonitor | None:
    """The training step's monitor for a study `spec` whose pruner is on (None otherwise); `load(metric, known)`
    reads the ended trials' curves of `metric` that are not in `known` (the store's `peer_curves`)."""
    if not spec.pruner.enabled:
        return None
    metric, direction = watched_curve(spec.pruner, task, spec.objective.metric, spec.objective.direction)
    rule = Rule(spec.pruner, metric, direction == "maximize", getattr(task, "step_name", "step"))
    return PruningMonitor(rule, PeerCurves(lambda known: load(metric, known)))


def watched_curve(spec: PrunerSpec, task: Any, objective_metric: str, objective_direction: str) -> tuple[str, str]:
    """(metric, direction) the rule follows: the spec's, else the plug-in's `pruning_curve`, else the objective."""
    declared = getattr(task, "pruning_curve", None) or (objective_metric, objective_direction)
    metric = spec.options.get("metric", declared[0])
    direction = spec.options.get("direction", declared[1] if metric == declared[0] else objective_direction)
    return metric, direction
