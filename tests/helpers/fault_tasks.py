"""A cheap task plug-in for tests, with faults to inject: `task: fault_tasks:QUADRATIC`.

The score is 1 - (x - 0.3)^2, reported over `epochs` steps. Options (task_options, declared below):
raise_above / nan_above / exit_above: x above which train() raises, returns NaN, or kills its
process; sleep_seconds: how long each trial takes.

`fault_tasks:UNDECLARED` is the same task as a plain object (the `Task` protocol, no declarations):
its options and metric are not checked. `fault_tasks:HEAP` also returns what its process's garbage
collector holds (`gc_frozen`, `gc_tracked`).
"""

import math
import os
import time

from agenthpo.space import FloatParam, IntParam, SearchSpace
from agenthpo.tasks.base import TaskPlugin
from agenthpo.tasks.options import Option, at_least
from agenthpo.trial import Objective

EXIT_ABOVE = Option("exit_above", float, 2.0, help="x above which train() kills its own process")
RAISE_ABOVE = Option("raise_above", float, 2.0, help="x above which train() raises")
NAN_ABOVE = Option("nan_above", float, 2.0, help="x above which train() returns a NaN score")
SLEEP_SECONDS = Option("sleep_seconds", float, 0.0, at_least(0), "how long each trial takes")


class QuadraticTask(TaskPlugin):
    name = "quadratic"
    options = (EXIT_ABOVE, RAISE_ABOVE, NAN_ABOVE, SLEEP_SECONDS)
    metrics = ("score",)
    default_objective = Objective("score", "maximize")
    default_space = SearchSpace([FloatParam("x", 0.0, 1.0), IntParam("epochs", 2, 5)])
    description = "Maximise 1 - (x - 0.3)^2; a test task."

    def train(self, params, ctx):
        x, epochs = params["x"], params["epochs"]
        if x > ctx.option(EXIT_ABOVE):
            os._exit(3)  # a hard crash: no exception, no cleanup, like an OOM kill
        if x > ctx.option(RAISE_ABOVE):
            raise RuntimeError(f"injected failure at x={x:.3f}")
        score = 1.0 - (x - 0.3) ** 2
        for epoch in range(1, epochs + 1):
            ctx.report(epoch, train_loss=1.0 / epoch, validation_loss=1.0 / epoch + x / 10)
            time.sleep(ctx.option(SLEEP_SECONDS) / epochs)
        if x > ctx.option(NAN_ABOVE):
            score = math.nan
        return {"score": score}


class UndeclaredQuadraticTask:
    """The Task protocol only: name, description, train; options read by name, nothing declared."""

    name = "undeclared-quadratic"
    description = "Maximise 1 - (x - 0.3)^2; a test task without declarations."

    def train(self, params, ctx):
        if params["x"] > ctx.option("raise_above", 2.0):
            raise RuntimeError(f"injected failure at x={params['x']:.3f}")
        return {"score": 1.0 - (params["x"] - 0.3) ** 2}


class HeapTask(QuadraticTask):
    """The quadratic task that also returns what its process's garbage collector holds: the objects frozen
    out of collections (`gc.freeze`) and the ones a full collection walks."""

    name = "heap"
    metrics = ("score", "gc_frozen", "gc_tracked")

    def train(self, params, ctx):
        import gc

        metrics = super().train(params, ctx)
        return {**metrics, "gc_frozen": float(gc.get_freeze_count()), "gc_tracked": float(len(gc.get_objects()))}


QUADRATIC = QuadraticTask()
UNDECLARED = UndeclaredQuadraticTask()
HEAP = HeapTask()
