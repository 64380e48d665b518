"""Task plug-ins by name, imported only when used. A spec may also name `package.module:attribute`."""

from __future__ import annotations

import importlib

from agenthpo.tasks.base import Task, TrialContext, objective_value

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
    target = TASKS.get(name, name)
    if ":" not in target:
        raise ValueError(f"task={name!r} is not one of {sorted(TASKS)} nor a 'module:attribute' path")
    module_name, attribute = target.split(":", 1)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"task={name!r}: cannot import {module_name!r} ({exc})") from None
    try:
        task = getattr(module, attribute)
    except AttributeError:
        raise ValueError(f"task={name!r}: {module_name!r} has no attribute {attribute!r}") from None
    if not isinstance(task, Task):
        raise ValueError(f"task={name!r}: {target} lacks name, objective, space, description or train()")
    return task


__all__ = ["TASKS", "Task", "TrialContext", "load_task", "objective_value"]
