"""A study whose trials the user's own Python code trains (the Python API): task `python`.

The spec of such a study says `task: python`; what trains a trial is the function given to
`Study.optimize(fn)`, or the user's loop between `Study.ask()` and `Study.tell()`. `agenthpo tune` cannot
run it (there is no function to call): `OWN_CODE.train` says so plainly.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

from agenthpo.tasks.base import TrialContext

PYTHON_TASK = "python"

TrainFunction = Callable[[dict[str, Any], TrialContext], Any]


class OwnCode:
    """The registry's entry for `task: python`: a study trained by the user's code, not by a plug-in."""

    name = PYTHON_TASK
    description = "The user's own training code, called through agenthpo's Python API (see the study's description)."

    def train(self, params: Mapping[str, Any], ctx: TrialContext) -> dict[str, float]:
        raise RuntimeError("a study of task 'python' is trained by your own function: run it from Python with "
                           "agenthpo.load_study(...).optimize(fn) or ask()/tell(), not with `agenthpo tune`")


OWN_CODE = OwnCode()


class UserFunction:
    """`fn(params, ctx)` as a task: it returns the metrics (a mapping with the objective's metric) or the
    objective's value as a number, and may call `ctx.report(step, **metrics)` (curves, pruning)."""

    def __init__(self, fn: TrainFunction, metric: str):
        if not callable(fn):
            raise TypeError(f"optimize(fn): fn={fn!r} is not callable; pass a function fn(params, ctx) that "
                            f"returns the metrics (a dict with {metric!r}) or the objective's value")
        self.fn, self.metric = fn, metric
        self.name = getattr(fn, "__qualname__", type(fn).__name__)
        self.description = OWN_CODE.description

    def train(self, params: Mapping[str, Any], ctx: TrialContext) -> dict[str, float]:
        return as_metrics(self.fn(dict(params), ctx), self.metric, f"{self.name}()")


def as_metrics(result: Any, metric: str, source: str) -> dict[str, float]:
    """A training result as metrics: a number is the objective's value; a mapping's values must be numbers.

    Raises:
        TypeError: naming `source` and the offending value, when the result is neither.
    """
    if isinstance(result, numbers.Real) and not isinstance(result, bool):
        return {metric: float(result)}
    if not isinstance(result, Mapping):
        raise TypeError(f"{source} returned {result!r}: return the metrics as a dict (with {metric!r}) or the "
                        f"objective's value as a number")
    metrics = {}
    for name, value in result.items():
        if not isinstance(name, str) or not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise TypeError(f"{source} returned {name!r}: {value!r}; each metric must be a name and a number")
        metrics[name] = float(value)
        if name == metric and not math.isfinite(metrics[name]):
            raise ValueError(f"{source} returned {metric}={value!r}: the objective must be a finite number")
    return metrics
