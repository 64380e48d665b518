"""Every ready spec in examples/ loads and fits its plug-in; every plug-in has a CPU and a GPU example."""

import subprocess
import sys

import pytest
from conftest import ROOT

from agenthpo.spec import load_spec
from agenthpo.tasks import TASKS, load_task

EXAMPLES = sorted((ROOT / "examples").rglob("*.yaml"))
# Tabular studies and analytic functions are already small: one spec serves CPU and GPU machines alike.
SMALL_ENOUGH_EVERYWHERE = {"xgboost-classification", "xgboost-regression", "branin", "rosenbrock", "ackley",
                           "himmelblau"}
# examples/analytic/ holds the benchmark's analytic functions (no data; kept apart from the paper's tasks).
CPU_FOLDERS = {"examples", "analytic"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT / "examples")))
def test_example_loads_and_fits_its_task(path):
    spec = load_spec(path)
    task = load_task(spec.task)
    assert spec.objective == task.default_objective, f"{path.name}: objective differs from the plug-in's"
    assert spec.space.names == task.default_space.names, f"{path.name}: hyperparameters differ from the plug-in's space"
    for param in spec.space:
        assert type(param) is type(task.default_space.param(param.name)), f"{path.name}: {param.name} changes kind"
    assert spec.description.strip(), f"{path.name}: the Creator needs a description"


def test_every_task_has_cpu_and_gpu_examples():
    tasks_cpu = {load_spec(p).task for p in EXAMPLES if p.parent.name in CPU_FOLDERS}
    tasks_gpu = {load_spec(p).task for p in EXAMPLES if p.parent.name == "gpu"}
    assert set(TASKS) <= tasks_cpu
    assert set(TASKS) - SMALL_ENOUGH_EVERYWHERE <= tasks_gpu


def test_importing_the_plug_ins_imports_no_training_stack():
    modules = sorted({target.split(":")[0] for target in TASKS.values()})
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules)
            + "heavy = [m for m in ('torch', 'xgboost', 'transformers', 'timm', 'torch_geometric', "
              "'great_expectations') if m in sys.modules]\nassert not heavy, heavy\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
