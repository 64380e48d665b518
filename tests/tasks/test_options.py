"""Task options and metrics as data: declarations, check_task, defaults; plug-ins read only what they declare."""

import ast
import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from agenthpo.errors import FieldError
from agenthpo.tasks import TASKS, TaskPlugin, TrialContext, check_task, load_task
from agenthpo.tasks.options import (
    REQUIRED,
    SPLIT_SEED,
    Option,
    at_least,
    between,
    check_options,
    fraction,
    list_of,
    one_of,
)

DECLARED = [*TASKS, "fault_tasks:QUADRATIC"]
# Reads the code does only for the other instance of the same class (xgboost: labels is classification's).
OTHER_INSTANCE_READS = {("xgboost-regression", "labels")}
# The machinery itself, which reads every option by its declaration.
MACHINERY = {"agenthpo.tasks.options", "agenthpo.tasks.base"}


def refused(task: str, options: dict, metric: str) -> FieldError:
    with pytest.raises(FieldError) as caught:
        check_task(task, options, metric)
    return caught.value


# -- the Option value object ----------------------------------------------------------------------------------------

def test_an_option_checks_itself_when_built():
    with pytest.raises(ValueError, match=r"option seed: its default breaks its own rule \(-1 must be an integer >= 0"):
        Option("seed", int, -1, at_least(0), "a seed")
    with pytest.raises(ValueError, match=r"option name 'split-seed' must be an identifier"):
        Option("split-seed", int, 0, help="a seed")
    with pytest.raises(ValueError, match=r"type\(s\) \[<class 'set'>\]"):
        Option("seeds", set, None, help="seeds")
    with pytest.raises(ValueError, match=r"needs a line of help"):
        Option("seed", int, 0)


def test_values_are_checked_and_normalised_by_the_rule_written_once():
    noise = Option("noise", float, 0.0, at_least(0), "a standard deviation")
    assert noise.value(1) == 1.0 and isinstance(noise.value(1), float)
    share = Option("share", float, 0.2, fraction(), "a share")
    for bad in (0.5, 0, True, "0.1", float("nan")):
        with pytest.raises(FieldError, match=r"must be a number in \(0, 0.5\)") as caught:
            share.value(bad)
        assert caught.value.path == "task_options.share"
    count = Option("count", int, None, at_least(1), "a count")
    assert count.read({}) is None and count.read({"count": None}) is None and count.read({"count": 3}) == 3
    with pytest.raises(FieldError, match=r"task_options.count: True must be an integer >= 1"):
        count.read({"count": True})
    size = Option("size", list, None, list_of(int, 2, at_least(16)), "[width, height]")
    assert size.value((32, 16)) == [32, 16]
    with pytest.raises(FieldError, match=r"\[32\] must be a list of 2 integers >= 16"):
        size.value([32])
    kind = Option("kind", str, "a", one_of("a", "b"), "a kind")
    assert kind.rule == "one of ['a', 'b']"
    column = Option("column", (str, int), 0, help="a name or a position")
    assert column.value("label") == "label" and column.value(2) == 2 and column.rule == "a string or an integer"
    assert between(0, 1, high_open=False).words == "in (0, 1]"


def test_a_required_option_must_be_given():
    target = Option("target", str, REQUIRED, help="the label column")
    assert target.required and "required" in target.describe()
    with pytest.raises(FieldError, match=r"task_options.target: required but not given: the label column"):
        target.read({})


def test_declared_defaults_are_applied_where_the_plug_in_reads_them():
    assert TrialContext().option(SPLIT_SEED) == 0
    assert TrialContext(options={"split_seed": 4}).option(SPLIT_SEED) == 4
    with pytest.raises(FieldError, match=r"task_options.split_seed: -1 must be an integer >= 0"):
        TrialContext(options={"split_seed": -1}).option(SPLIT_SEED)
    # A bare name keeps the old call: the value as written, or the caller's default.
    assert TrialContext(options={"x": 1}).option("x") == 1 and TrialContext().option("x", 5) == 5
    checked = load_task("xgboost-classification").check_options({"target": "Potability"})
    assert checked == {"target": "Potability", "drop_columns": [], "validation_fraction": 0.2, "test_fraction": 0.2,
                       "split_seed": 0, "nthread": 0, "min_rows": 50, "expectations": [], "labels": None}
    lightgcn = load_task("lightgcn").check_options({"split": "random"})
    assert lightgcn["split"] == "random" and lightgcn["validation_fraction"] == 0.1 and lightgcn["device"] == "auto"


# -- check_task: what the spec loader calls ------------------------------------------------------------------------

def test_a_misspelt_option_is_refused_with_did_you_mean_and_the_options_help():
    error = refused("xgboost-classification", {"target": "Potability", "split_sed": 3}, "f1")
    assert error.path == "task_options.split_sed"
    assert "unknown option 'split_sed' for task xgboost-classification (did you mean 'split_seed'?)" in error.message
    assert "split_seed (an integer >= 0, default 0): seeds the fixed data split" in error.message
    assert "target (a string that is not empty, required): the label column" in error.message


def test_a_value_of_the_wrong_type_or_range_is_refused_naming_field_value_and_rule():
    error = refused("lightgcn", {"split_seed": "zero"}, "ndcg_at_10")
    assert (error.path, error.message) == ("task_options.split_seed", "'zero' must be an integer >= 0")
    error = refused("link-prediction", {"validation_fraction": 0.7}, "auc")
    assert (error.path, error.message) == ("task_options.validation_fraction", "0.7 must be a number in (0, 0.5)")
    error = refused("node-classification", {"dataset": "arxiv"}, "accuracy")
    assert error.message == "'arxiv' must be one of ['citeseer', 'cora', 'pubmed']"
    error = refused("xgboost-regression", {}, "r2")
    assert error.path == "task_options.target" and "required" in error.message


def test_a_metric_the_plug_in_never_reports_is_refused():
    error = refused("xgboost-classification", {"target": "Potability"}, "auc")
    assert error.path == "objective.metric"
    assert error.message.startswith("'auc' is not reported by xgboost-classification; it reports ['f1', ")
    error = refused("node-classification", {}, "f1")
    assert error.path == "objective.metric" and "'f1' is not reported by node-classification" in error.message
    assert "'validation_accuracy'" in error.message
    assert "did you mean 'r2'" in refused("xgboost-regression", {"target": "Price"}, "r_2").message


def test_an_unknown_task_or_a_bad_plug_in_path_is_refused_at_task(tmp_path, monkeypatch):
    error = refused("xgbost-classification", {}, "f1")
    assert error.path == "task" and "unknown task 'xgbost-classification' (did you mean 'xgboost-classification'?)" \
        in error.message
    error = refused("no_such_module:TASK", {}, "f1")
    assert error.path == "task" and "cannot import 'no_such_module' (ModuleNotFoundError" in error.message
    assert "Traceback" not in str(error) and error.__cause__ is None and error.__suppress_context__
    error = refused("fault_tasks:NOT_THERE", {}, "score")
    assert error.message == "'fault_tasks:NOT_THERE': module 'fault_tasks' has no attribute 'NOT_THERE'"
    (tmp_path / "broken_plugin.py").write_text("raise RuntimeError('no GPU here')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    error = refused("broken_plugin:TASK", {}, "score")
    assert error.message == "'broken_plugin:TASK': cannot import 'broken_plugin' (RuntimeError: no GPU here)"
    error = refused("agenthpo.tasks:TASKS", {}, "score")
    assert "is not a task plug-in" in error.message


def test_a_declared_test_plug_in_is_checked_and_a_plain_protocol_plug_in_is_not():
    check_task("fault_tasks:QUADRATIC", {"raise_above": 0.5, "sleep_seconds": 1}, "score")
    assert refused("fault_tasks:QUADRATIC", {"raise_abov": 0.5}, "score").path == "task_options.raise_abov"
    assert refused("fault_tasks:QUADRATIC", {}, "accuracy").path == "objective.metric"
    # The Task protocol without declarations: anything goes, as before.
    undeclared = load_task("fault_tasks:UNDECLARED")
    assert not isinstance(undeclared, TaskPlugin)
    check_task("fault_tasks:UNDECLARED", {"anything": [1, 2], "raise_above": "high"}, "whatever")
    assert undeclared.train({"x": 0.3}, TrialContext(options={"raise_above": 0.5})) == {"score": 1.0}


def test_every_example_spec_passes_check_task():
    for path in sorted((ROOT / "examples").rglob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        check_task(data["task"], data.get("task_options") or {}, data["objective"]["metric"])


def test_check_task_imports_no_training_stack():
    code = ("import sys\nfrom agenthpo.tasks import TASKS, check_task, load_task\n"
            "for name in TASKS:\n"
            "    task = load_task(name)\n"
            "    given = {'target': 'y'} if name.startswith('xgboost') else {}\n"
            "    check_task(name, given, task.default_objective.metric)\n"
            "heavy = [m for m in ('torch', 'xgboost', 'pandas', 'transformers', 'timm', 'torch_geometric', "
            "'great_expectations', 'sklearn') if m in sys.modules]\nassert not heavy, heavy\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


# -- the declarations match the code -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", DECLARED)
def test_declarations_are_complete_and_consistent(name):
    task = load_task(name)
    assert isinstance(task, TaskPlugin)
    names = [option.name for option in task.options]
    assert len(names) == len(set(names)), f"{name} declares an option twice"
    assert all(isinstance(option, Option) and option.help for option in task.options)
    assert task.metrics and len(task.metrics) == len(set(task.metrics))
    assert task.default_objective.metric in task.metrics, "the suggested objective must be a reported metric"
    assert task.default_space.names
    if not any(option.required for option in task.options):
        assert list(check_options(task.name, task.options, {})) == names


def _module_source(name: str) -> str:
    return Path(importlib.util.find_spec(name).origin).read_text()


def _task_modules(name: str) -> list[str]:
    """The plug-in's module and every agenthpo.tasks module it imports, in functions too, at any depth."""
    seen: list[str] = []
    todo = [name]
    while todo:
        module = todo.pop()
        if module in seen or module in MACHINERY:
            continue
        seen.append(module)
        for node in ast.walk(ast.parse(_module_source(module))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("agenthpo.tasks"):
                todo.append(node.module)
                if node.module == "agenthpo.tasks":
                    todo += [f"{node.module}.{alias.name}" for alias in node.names
                             if importlib.util.find_spec(f"{node.module}.{alias.name}") is not None]
    return [module for module in seen if module != "agenthpo.tasks"]


def _resolver(module: str):
    """Resolves a name or `module.attribute` in `module` without importing it when its imports suffice
    (torch_support imports torch; its options come from agenthpo.tasks.options)."""
    tree = ast.parse(_module_source(module))
    imported = {alias.asname or alias.name: (node.module, alias.name) for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module for alias in node.names}

    def resolve(node: ast.expr):
        if isinstance(node, ast.Name):
            if node.id in imported:
                source, attribute = imported[node.id]
                if importlib.util.find_spec(source) is not None and source.startswith("agenthpo"):
                    owner = importlib.import_module(source)
                    if hasattr(owner, attribute):
                        return getattr(owner, attribute)
                    return importlib.import_module(f"{source}.{attribute}")
            return getattr(importlib.import_module(module), node.id, None)
        if isinstance(node, ast.Attribute):
            owner = resolve(node.value)
            return getattr(owner, node.attr, None) if owner is not None else None
        return None

    return resolve


def _option_reads(module: str) -> tuple[list[Option], list[str]]:
    """(the declared Options this module reads, what it reads any other way, with line numbers)."""
    resolve = _resolver(module)
    reads: list[Option] = []
    problems: list[str] = []

    def is_options(node: ast.expr) -> bool:
        return (isinstance(node, ast.Name) and node.id == "options") or (
            isinstance(node, ast.Attribute) and node.attr == "options")

    for node in ast.walk(ast.parse(_module_source(module))):
        where = f"{module}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "option":  # ctx.option(DECLARATION)
                target = resolve(node.args[0]) if node.args else None
                if isinstance(target, Option):
                    reads.append(target)
                else:
                    problems.append(f"{where}: ctx.option({ast.unparse(node.args[0]) if node.args else ''}) is not "
                                    f"the read of a module-level Option")
            elif node.func.attr == "read" and isinstance(resolve(node.func.value), Option):  # OPTION.read(options)
                reads.append(resolve(node.func.value))
            elif node.func.attr == "get" and is_options(node.func.value):
                problems.append(f"{where}: reads an option with options.get()")
        elif isinstance(node, ast.Subscript) and is_options(node.value):
            problems.append(f"{where}: reads an option with options[...]")
        elif isinstance(node, ast.Compare) and any(isinstance(op, ast.In | ast.NotIn) for op in node.ops) \
                and any(is_options(c) for c in node.comparators):
            problems.append(f"{where}: tests an option with `in options`")
    return reads, problems


@pytest.mark.parametrize("name", TASKS)
def test_every_option_a_plug_in_reads_is_declared_and_every_declared_one_is_read(name):
    task = load_task(name)
    module = TASKS[name].split(":")[0]
    reads: list[Option] = []
    problems: list[str] = []
    for each in _task_modules(module):
        found, wrong = _option_reads(each)
        reads += found
        problems += wrong
    assert not problems, problems
    undeclared = {o.name for o in reads if not any(o is d for d in task.options)}
    undeclared -= {n for t, n in OTHER_INSTANCE_READS if t == name}
    assert not undeclared, f"{name} reads option(s) it does not declare: {sorted(undeclared)}"
    unread = {d.name for d in task.options if not any(d is o for o in reads)}
    assert not unread, f"{name} declares option(s) nothing reads: {sorted(unread)}"


@pytest.mark.parametrize("name", ["branin", "himmelblau", "fault_tasks:QUADRATIC"])
def test_cheap_plug_ins_return_exactly_their_declared_metrics(name):
    task = load_task(name)
    params = {param.name: param.low for param in task.default_space}
    assert set(task.train(params, TrialContext(options={"noise": 0.1} if name in TASKS else {}))) == set(task.metrics)
