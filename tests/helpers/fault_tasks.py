"""A cheap task plug-in for tests, with faults to inject: `task: fault_tasks:QUADRATIC`.

The score is 1 - (x - 0.3)^2, reported over `epochs` steps. Options (task_options):
raise_above / nan_above / exit_above: x above which train() raises, returns NaN, or kills its
process; sleep_seconds: how long each trial takes.
"""

import math
import os
import time

from agenthpo.space import FloatParam, IntParam, SearchSpace
from agenthpo.trial import Objective


class QuadraticTask:
    name = "quadratic"
    objective = Objective("score", "maximize")
    space = SearchSpace([FloatParam("x", 0.0, 1.0), IntParam("epochs", 2, 5)])
    description = "Maximise 1 - (x - 0.3)^2; a test task."

    def train(self, params, ctx):
        x, epochs = params["x"], params["epochs"]
        if x > ctx.option("exit_above", 2.0):
            os._exit(3)  # a hard crash: no exception, no cleanup, like an OOM kill
        if x > ctx.option("raise_above", 2.0):
            raise RuntimeError(f"injected failure at x={x:.3f}")
        score = 1.0 - (x - 0.3) ** 2
        for epoch in range(1, epochs + 1):
            ctx.report(epoch, train_loss=1.0 / epoch, validation_loss=1.0 / epoch + x / 10)
            time.sleep(ctx.option("sleep_seconds", 0.0) / epochs)
        if x > ctx.option("nan_above", 2.0):
            score = math.nan
        return {"score": score}


QUADRATIC = QuadraticTask()
