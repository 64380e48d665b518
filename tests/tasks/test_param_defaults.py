"""A space that leaves out a hyperparameter a plug-in knows trains with the plug-in's default for it; one the
plug-in has no default for is refused when the spec loads (exit status 2), never a KeyError in every trial."""

import math

import pytest
import yaml
from conftest import ROOT

from agenthpo.errors import FieldError
from agenthpo.space import SearchSpace
from agenthpo.spec import parse_spec
from agenthpo.tasks import TASKS, TrialContext, check_task, load_task, with_defaults
from agenthpo.tasks.analytic import branin


@pytest.mark.parametrize("name", TASKS)
def test_every_built_in_hyperparameter_has_a_default_inside_its_range(name):
    task = load_task(name)
    assert set(task.param_defaults) == set(task.default_space.names)
    assert task.default_space.validate(task.param_defaults) == dict(task.param_defaults)


def test_a_left_out_analytic_variable_is_held_at_its_default():
    task = load_task("branin")
    params, filled = with_defaults(task, {"x1": 1.0})
    assert filled == {"x2": 7.5} and params == {"x1": 1.0, "x2": 7.5}
    assert task.train(params, TrialContext())["value"] == pytest.approx(branin(1.0, 7.5))
    assert with_defaults(task, {"x1": 1.0, "x2": 2.0}) == ({"x1": 1.0, "x2": 2.0}, {})


def test_xgboost_trains_a_space_of_one_hyperparameter_with_xgboost_defaults(water_csv):
    # Before: every trial failed with KeyError 'n_estimators' and the study exited 0.
    spec = yaml.safe_load((ROOT / "examples" / "water-potability.yaml").read_text())
    spec.update(data=str(water_csv), space={"max_depth": {"type": "int", "low": 2, "high": 4}})
    spec = parse_spec(spec, base_dir=None)
    task = load_task(spec.task)
    params, filled = with_defaults(task, {"max_depth": 3})
    assert filled["n_estimators"] == 100 and filled["learning_rate"] == 0.3 and "max_depth" not in filled
    ctx = TrialContext(spec.data, spec.task_options, seed=0)
    metrics = task.train(params, ctx)
    assert math.isfinite(metrics["f1"]) and len(ctx.curves["validation_logloss"]) == 100


def test_a_hyperparameter_without_a_default_must_be_in_the_space():
    space = SearchSpace.from_json({"x": {"type": "float", "low": 0.0, "high": 1.0}})
    with pytest.raises(FieldError) as raised:
        check_task("fault_tasks:QUADRATIC", {}, "score", space)
    assert raised.value.path == "space" and "leaves out ['epochs']" in raised.value.message
    assert "'epochs': {'type': 'int', 'low': 2, 'high': 5" in raised.value.message  # what to add
    data = {"name": "q", "task": "fault_tasks:QUADRATIC", "objective": {"metric": "score"},
            "space": {"x": {"type": "float", "low": 0.0, "high": 1.0}}, "budget": {"trials": 1}}
    with pytest.raises(FieldError, match=r"^space: leaves out \['epochs'\]"):
        parse_spec(data, base_dir=None)


def test_a_plain_task_gets_the_configuration_as_it_is():
    assert with_defaults(load_task("fault_tasks:UNDECLARED"), {"x": 0.5}) == ({"x": 0.5}, {})


def test_a_misspelt_plug_in_attribute_gets_a_did_you_mean():
    with pytest.raises(FieldError, match=r"no attribute 'BRANNIN' \(did you mean 'BRANIN'\?\)"):
        load_task("agenthpo.tasks.analytic:BRANNIN")
