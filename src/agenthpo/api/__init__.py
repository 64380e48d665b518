"""The Python API, Optuna-shaped: the studies `agenthpo tune` runs, driven from the user's code.

    import agenthpo

    def train(params, ctx):
        model = fit(lr=params["lr"], layers=params["layers"])
        for epoch, loss in enumerate(model.history, 1):
            ctx.report(epoch, validation_loss=loss)    # curves in MLflow; the pruner decides here
        return {"accuracy": model.accuracy}           # or just the objective's value

    study = agenthpo.create_study(
        name="my-model", tracking_uri="sqlite:///mlflow.db", budget={"trials": 20}, proposer="agent",
        space={"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
               "layers": {"type": "int", "low": 1, "high": 4}},
        objective={"metric": "accuracy", "direction": "maximize"},
        description="A small MLP on tabular data; 10,000 rows, 12 features.")
    study.optimize(train, n_trials=10)
    print(study.best_trial.params, study.best_trial.value)

Every keyword is a field of the YAML spec (`docs/spec.md`), checked the same way; `spec=` reads a spec
file instead (its fields, then the keywords given). A study without `task` is trained by the user's own
function (task `python`); one that names a plug-in runs it with `optimize()`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agenthpo.api.study import Study, StudyStopped
from agenthpo.api.trial import AskedTrial
from agenthpo.errors import FieldError
from agenthpo.spec import DEFAULT_TRACKING_URI, absolute_sqlite_uri, load_spec, parse_spec
from agenthpo.tasks.python_function import PYTHON_TASK

DEFAULT_BUDGET = {"trials": 100}  # a spec must have one; optimize(n_trials=...) runs fewer per call


class StudyExists(ValueError):  # noqa: N818 (what happened, as Optuna's DuplicatedStudyError says it)
    """create_study() of a name the tracking store already holds, without load_if_exists=True."""


def create_study(name: str | None = None, *, spec: str | os.PathLike[str] | None = None,
                 load_if_exists: bool = False, **fields: Any) -> Study:
    """A new study (or, with `load_if_exists=True`, the existing one of that name, resumed with this spec).

    Raises:
        FieldError: a field's path, value and fix (as for a YAML spec), before anything is recorded.
        StudyExists: the name is taken in the tracking store and `load_if_exists` is False.
    """
    data = load_spec(spec).to_json() if spec is not None else {"task": PYTHON_TASK, "budget": DEFAULT_BUDGET}
    if name is not None:
        data["name"] = name
    data.update(_spec_fields(fields))
    if data.get("name") is None:
        raise FieldError("name", "create_study() needs a name (1-128 letters, digits, '.', '_' or '-'); "
                                 "the study's MLflow run and experiment are called by it")
    base = Path(spec).resolve().parent if spec is not None else Path.cwd()
    parsed = parse_spec(data, base_dir=base, source="create_study()")
    store = _store(parsed.tracking_uri)
    if not load_if_exists and store.find_study(parsed.name, parsed.experiment_name) is not None:
        raise StudyExists(f"study {parsed.name!r} already exists in {parsed.tracking_uri}: use "
                          f"agenthpo.load_study(name={parsed.name!r}, tracking_uri=...) or create_study(..., "
                          f"load_if_exists=True)")
    return _opened(parsed, store)


def load_study(name: str, tracking_uri: str = DEFAULT_TRACKING_URI, experiment: str | None = None) -> Study:
    """The study `name` as recorded (its spec is read from its MLflow run); resumed as `tune` resumes it.

    Raises:
        LookupError: no study of that name in the store.
    """
    uri = absolute_sqlite_uri(tracking_uri)
    store = _store(uri)
    study_id = store.find_study(name, experiment)
    if study_id is None:
        raise LookupError(f"no study {name!r} in {uri}" + (f" (experiment {experiment!r})" if experiment else "") +
                          ": check the name and tracking_uri, or create it with agenthpo.create_study")
    return _opened(store.load_spec(study_id), store)


def _spec_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The keywords as spec fields: `proposer="tpe"` and `pruner="median"` are short for {"name": ...}."""
    data = dict(fields)
    for key in ("proposer", "pruner"):
        if isinstance(data.get(key), str):
            data[key] = {"name": data[key]}
    return data


def _store(tracking_uri: str):
    from agenthpo.tracking import MlflowStudyStore  # only here: importing agenthpo stays light

    return MlflowStudyStore(tracking_uri)


def _opened(spec, store) -> Study:
    from agenthpo import study as steps

    return Study(spec, store, steps.open_study(spec, store).study_id)


__all__ = ["AskedTrial", "Study", "StudyExists", "StudyStopped", "create_study", "load_study"]
