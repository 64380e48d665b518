"""Task plug-ins by name, imported only when used. A spec may also name `package.module:attribute`.

`check_task` is what the spec loader calls: the task must exist, and a declared plug-in (`TaskPlugin`)
must read every given task option and report the objective's metric. It imports the plug-in's module
only (never torch, xgboost or great-expectations).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from agenthpo.errors import FieldError, did_you_mean
from agenthpo.tasks.base import Task, TaskPlugin, TrialContext, objective_value
from agenthpo.tasks.options import Option

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
    target = TASKS.get(name, name) if isinstance(name, str) else name
    if not isinstance(target, str) or ":" not in target:
        raise FieldError("task", f"unknown task {name!r}{did_you_mean(name, TASKS)}; the built-in tasks are "
                                 f"{sorted(TASKS)}, or name a plug-in as 'package.module:attribute'")
    module_name, attribute = target.split(":", 1)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # an import error, or any error the module raises while it loads
        raise FieldError("task", f"{name!r}: cannot import {module_name!r} ({type(exc).__name__}: {exc})") from None
    try:
        task = getattr(module, attribute)
    except AttributeError:
        raise FieldError("task", f"{name!r}: module {module_name!r} has no attribute {attribute!r}") from None
    if not isinstance(task, Task):
        raise FieldError("task", f"{name!r}: {target} is not a task plug-in (it lacks name, description or train())")
    return task


def check_task(task_name: str, task_options: Mapping[str, Any], metric: str) -> None:
    """Raise FieldError unless `task_name` loads and, for a `TaskPlugin`, reads every option given and reports
    `metric`: paths `task`, `task_options.<name>` and `objective.metric`. A plain `Task` is not checked further."""
    task = load_task(task_name)
    if isinstance(task, TaskPlugin):
        task.check_options(task_options)
        task.check_metric(metric)


__all__ = ["TASKS", "Option", "Task", "TaskPlugin", "TrialContext", "check_task", "load_task", "objective_value"]
