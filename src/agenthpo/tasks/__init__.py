"""Task plug-ins by name, imported only when used. A spec may also name `package.module:attribute`.

`check_task` is what the spec loader calls: the task must exist, and a declared plug-in (`TaskPlugin`)
must read every given task option, report the objective's metric, and have a default for each of its
hyperparameters the space leaves out. It imports the plug-in's module only (never torch, xgboost or
great-expectations). `with_defaults` is what the training step calls: the configuration train() gets.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from agenthpo.errors import FieldError, did_you_mean
from agenthpo.space import Scalar, SearchSpace
from agenthpo.tasks.base import Task, TaskPlugin, TrialContext, objective_value
from agenthpo.tasks.options import Option
from agenthpo.tasks.python_function import OWN_CODE, PYTHON_TASK

# The paper's twelve tasks (its Table 1) map onto these plug-ins; see examples/ for one spec each.
TASKS: dict[str, str] = {
    "xgboost-classification": "agenthpo.tasks.xgboost_tabular:CLASSIFICATION",
    "xgboost-regression": "agenthpo.tasks.xgboost_tabular:REGRESSION",
    "image-classification": "agenthpo.tasks.image_classification:IMAGE_CLASSIFICATION",
    "segmentation": "agenthpo.tasks.segmentation:SEGMENTATION",
    "text-classification": "agenthpo.tasks.text_classification:TEXT_CLASSIFICATION",
    "translation": "agenthpo.tasks.translation:TRANSLATION",
    "lightgcn": "agenthpo.tasks.lightgcn:LIGHTGCN",
    "deepfm": "agenthpo.tasks.deepfm:DEEPFM",
    "node-classification": "agenthpo.tasks.gcn:NODE_CLASSIFICATION",
    "link-prediction": "agenthpo.tasks.vgae:LINK_PREDICTION",
    # Cheap analytic functions for benchmarks with many repeats (not paper tasks).
    "branin": "agenthpo.tasks.analytic:BRANIN",
    "rosenbrock": "agenthpo.tasks.analytic:ROSENBROCK",
    "ackley": "agenthpo.tasks.analytic:ACKLEY",
    "himmelblau": "agenthpo.tasks.analytic:HIMMELBLAU",
}


def load_task(name: str) -> Task:
    """The plug-in a spec's `task` names; FieldError at `task` when there is none (no traceback of the import)."""
    if name == PYTHON_TASK:  # the user's own function (Python API): not a plug-in, nothing to import
        return OWN_CODE
    target = TASKS.get(name, name) if isinstance(name, str) else name
    if not isinstance(target, str) or ":" not in target:
        raise FieldError("task", f"unknown task {name!r}{did_you_mean(name, TASKS)}; the built-in tasks are "
                                 f"{sorted(TASKS)}, or name a plug-in as 'package.module:attribute' ('{PYTHON_TASK}': "
                                 f"your own function, trained through the Python API)")
    module_name, attribute = target.split(":", 1)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # an import error, or any error the module raises while it loads
        raise FieldError("task", f"{name!r}: cannot import {module_name!r} ({type(exc).__name__}: {exc})") from None
    try:
        task = getattr(module, attribute)
    except AttributeError:
        plug_ins = [key for key, value in vars(module).items() if isinstance(value, Task)]
        raise FieldError("task", f"{name!r}: module {module_name!r} has no attribute {attribute!r}"
                                 f"{did_you_mean(attribute, plug_ins)}") from None
    if not isinstance(task, Task):
        raise FieldError("task", f"{name!r}: {target} is not a task plug-in (it lacks name, description or train())")
    return task


def check_task(task_name: str, task_options: Mapping[str, Any], metric: str, space: SearchSpace | None = None,
               test_data: str | None = None) -> None:
    """Raise FieldError unless `task_name` loads and, for a `TaskPlugin`, reads every option given, reports
    `metric` and can train the space (a default for each hyperparameter it leaves out): paths `task`,
    `task_options.<name>`, `objective.metric` and `space`. A plain `Task` is not checked further."""
    task = load_task(task_name)
    if test_data is not None and not getattr(task, "takes_test_data", False):
        raise FieldError("test_data", f"{test_data!r}: task {task_name!r} takes no separate test set (the tabular "
                                      f"and text plug-ins do); remove test_data, or hold out a share with the "
                                      f"task's own options")
    if isinstance(task, TaskPlugin):
        task.check_options(task_options)
        task.check_metric(metric)
        if space is not None:
            task.check_space(space.names)


def with_defaults(task: Task, params: Mapping[str, Scalar]) -> tuple[dict[str, Scalar], dict[str, Scalar]]:
    """What train() gets, and the part of it that is the plug-in's defaults: a `TaskPlugin`'s param_defaults fill
    each hyperparameter the configuration leaves out; a plain `Task` gets the configuration as it is."""
    full = task.fill_defaults(params) if isinstance(task, TaskPlugin) else dict(params)
    return full, {name: value for name, value in full.items() if name not in params}


__all__ = ["TASKS", "Option", "Task", "TaskPlugin", "TrialContext", "check_task", "load_task", "objective_value",
           "with_defaults"]
