"""Analytic test functions as task plug-ins: cheap tasks for benchmarks with many repeats.

Branin, Rosenbrock, Ackley and Himmelblau, each on two variables `x1`, `x2` over its usual domain,
minimised (metric `value`). Their optima are textbook knowledge, so an LLM Creator could recall
them instead of optimising; the `shift` option (a vector per variable) moves the function, and so
its optima, by that vector: the optimum's location is then unknown to the model. The space stays
the usual domain (plug-ins have one fixed space), so a shift must keep at least one global optimum
inside it. `noise` adds seeded Gaussian noise of that standard deviation to the reported value
(the noise-free value is recorded as `true_value`).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from agenthpo.space import FloatParam, Scalar, SearchSpace
from agenthpo.tasks.base import TaskPlugin, TrialContext
from agenthpo.tasks.options import Option, at_least, list_of
from agenthpo.trial import Objective

VARIABLES = ("x1", "x2")
SHIFT = Option("shift", list, [0.0, 0.0], list_of(float, len(VARIABLES)),
               "moves the function, and its optima, by this vector; one optimum must stay in the domain")
NOISE = Option("noise", float, 0.0, at_least(0), "standard deviation of seeded Gaussian noise on the reported value")


def branin(x1: float, x2: float) -> float:
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def rosenbrock(x1: float, x2: float) -> float:
    return 100 * (x2 - x1 ** 2) ** 2 + (1 - x1) ** 2


def ackley(x1: float, x2: float) -> float:
    radius = math.sqrt(0.5 * (x1 ** 2 + x2 ** 2))
    waves = 0.5 * (math.cos(2 * math.pi * x1) + math.cos(2 * math.pi * x2))
    return -20 * math.exp(-0.2 * radius) - math.exp(waves) + 20 + math.e


def himmelblau(x1: float, x2: float) -> float:
    return (x1 ** 2 + x2 - 11) ** 2 + (x1 + x2 ** 2 - 7) ** 2


@dataclass(frozen=True)
class AnalyticTask(TaskPlugin):
    """A two-variable test function to minimise; see the module docstring for the options."""

    name: str
    function: Callable[[float, float], float]
    domain: tuple[tuple[float, float], tuple[float, float]]
    optima: tuple[tuple[float, float], ...]
    minimum: float
    words: str  # the function's shape for the Creator, without its formula or optimum

    options = (SHIFT, NOISE)
    metrics = ("value", "true_value")
    default_objective = Objective("value", "minimize")

    @property
    def default_space(self) -> SearchSpace:
        bounds = zip(VARIABLES, self.domain, strict=True)
        return SearchSpace([FloatParam(v, float(lo), float(hi)) for v, (lo, hi) in bounds])

    @property
    def param_defaults(self) -> dict[str, Scalar]:
        """The domain's centre, for a variable the space leaves out (it is then held there)."""
        return {v: (lo + hi) / 2 for v, (lo, hi) in zip(VARIABLES, self.domain, strict=True)}

    @property
    def description(self) -> str:
        return f"analytic test function ({self.words}); minimise its value over x1, x2"

    def shift(self, ctx: TrialContext) -> tuple[float, float]:
        """The `shift` option, checked: two numbers that keep at least one global optimum in the domain."""
        given = ctx.option(SHIFT)
        shift = (float(given[0]), float(given[1]))
        if not self.shifted_optima(shift):
            raise ValueError(f"task_options.shift={list(shift)!r} moves every optimum of {self.name} "
                             f"{list(self.optima)} out of the domain {list(self.domain)}")
        return shift

    def shifted_optima(self, shift: tuple[float, float]) -> list[tuple[float, float]]:
        """The global optima that remain inside the domain after the shift."""
        moved = [(a + shift[0], b + shift[1]) for a, b in self.optima]
        return [p for p in moved if all(lo <= v <= hi for v, (lo, hi) in zip(p, self.domain, strict=True))]

    def noise(self, ctx: TrialContext) -> float:
        return ctx.option(NOISE)

    def evaluate(self, params: Mapping[str, Scalar], shift: tuple[float, float] = (0.0, 0.0)) -> float:
        x1, x2 = float(params["x1"]), float(params["x2"])
        return float(self.function(x1 - shift[0], x2 - shift[1]))

    def train(self, params: Mapping[str, Scalar], ctx: TrialContext) -> dict[str, float]:
        true_value = self.evaluate(params, self.shift(ctx))
        noise = self.noise(ctx)
        if noise == 0:
            return {"value": true_value, "true_value": true_value}
        # Seeded by the study seed and the configuration: the same point reads the same in every process.
        key = zlib.crc32(repr((float(params["x1"]), float(params["x2"]))).encode())
        rng = np.random.default_rng([ctx.seed, key])
        return {"value": true_value + float(rng.normal(0.0, noise)), "true_value": true_value}

    def profile(self, ctx: TrialContext) -> dict[str, Any]:
        # No formula and no optimum: the Creator must search, not recall (the shift is withheld too).
        return {"function": "two-variable analytic test function", "shape": self.words,
                "variables": {v: {"low": lo, "high": hi} for v, (lo, hi) in zip(VARIABLES, self.domain, strict=True)},
                "noisy": self.noise(ctx) > 0}


BRANIN = AnalyticTask(
    "branin", branin, ((-5.0, 10.0), (0.0, 15.0)),
    ((-math.pi, 12.275), (math.pi, 2.275), (9.42478, 2.475)), 0.397887,
    "smooth, three global minima of equal value in valleys, values from about 0.4 to 300")
ROSENBROCK = AnalyticTask(
    "rosenbrock", rosenbrock, ((-5.0, 10.0), (-5.0, 10.0)), ((1.0, 1.0),), 0.0,
    "one global minimum at the bottom of a long, narrow, curved, almost flat valley; values up to 1e6")
ACKLEY = AnalyticTask(
    "ackley", ackley, ((-32.768, 32.768), (-32.768, 32.768)), ((0.0, 0.0),), 0.0,
    "nearly flat outer region covered with many regular local minima, one deep funnel to the global minimum")
HIMMELBLAU = AnalyticTask(
    "himmelblau", himmelblau, ((-5.0, 5.0), (-5.0, 5.0)),
    ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)), 0.0,
    "smooth, four global minima of equal value, one local maximum between them")

FUNCTIONS = {task.name: task for task in (BRANIN, ROSENBROCK, ACKLEY, HIMMELBLAU)}
