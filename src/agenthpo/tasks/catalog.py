"""What each task plug-in declares, as data: `agenthpo tasks` prints it, `agenthpo init` drafts from it.

Importing a plug-in's module is cheap (heavy imports live in train()), so listing every task imports
neither torch nor xgboost.
"""

from __future__ import annotations

from typing import Any

from agenthpo.tasks import TASKS, TaskPlugin, load_task
from agenthpo.tasks.options import Option
from agenthpo.tasks.python_function import PYTHON_TASK


def option_json(option: Option) -> dict[str, Any]:
    return {"name": option.name, "type": " or ".join(t.__name__ for t in option.types),
            "default": None if option.required else option.default, "required": option.required,
            "rule": option.check.words if option.check is not None else "", "help": option.help}


def describe_task(name: str) -> dict[str, Any]:
    """One plug-in's declarations: description, metrics, default objective and space, defaults, options.

    Raises:
        FieldError: at `task` when there is no such plug-in.
    """
    task = load_task(name)
    entry: dict[str, Any] = {"name": name, "description": task.description.strip()}
    if not isinstance(task, TaskPlugin):
        return entry
    objective = getattr(task, "default_objective", None)
    space = getattr(task, "default_space", None)
    entry.update({
        "metrics": list(task.metrics),
        "default_objective": objective.to_json() if objective is not None else None,
        "default_space": space.to_json() if space is not None else {},
        "param_defaults": dict(task.param_defaults),
        "step": task.step_name,
        "options": [option_json(option) for option in task.options],
    })
    return entry


def all_tasks() -> list[dict[str, Any]]:
    """The built-in plug-ins, then task 'python' (the user's own function, through the Python API)."""
    return [describe_task(name) for name in [*TASKS, PYTHON_TASK]]


__all__ = ["all_tasks", "describe_task", "option_json"]
