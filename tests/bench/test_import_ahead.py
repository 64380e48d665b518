"""The benchmark imports a plug-in's heavy modules before it times a trial, so that no arm pays them alone."""

import importlib.machinery
import importlib.util
import sys
from types import SimpleNamespace

import pytest

from agenthpo.bench import run as bench_run
from agenthpo.tasks import TASKS, load_task

PLUGIN = '''
class Plugin:
    name = "ahead"
    description = "declares a late import"
    late_imports = ("{heavy}",)

    def train(self, params, ctx):
        return {{"value": 0.0}}


PLUGIN = Plugin()
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A plug-in module whose `late_imports` names a module nothing has imported yet."""
    heavy = f"ahead_heavy_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{heavy}.py").write_text("LOADED = True\n")
    (tmp_path / "ahead_plugin.py").write_text(PLUGIN.format(heavy=heavy))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "ahead_plugin:PLUGIN", heavy
    sys.modules.pop(heavy, None)
    sys.modules.pop("ahead_plugin", None)


class _Store:
    def find_study(self, name, experiment):
        return "study-1"

    def study_metrics(self, study_id):
        return {}

    def log_metrics(self, study_id, metrics):
        pass


def _train_seeing(plugin, engine, monkeypatch):
    """Run BenchmarkRun._train with run_study replaced; what was imported when the study began."""
    task, heavy = plugin
    seen = []
    monkeypatch.setattr(bench_run, "run_study", lambda spec, store, engine, workdir: seen.append(heavy in sys.modules)
                        or 0)
    runner = bench_run.BenchmarkRun(suite=None, store=_Store(), engine=engine)  # _train reads no suite
    runner._train(SimpleNamespace(task=task, uses_llm=False, name="s", experiment_name="e"))
    return seen


def test_the_in_process_engine_imports_the_late_modules_before_the_study_trains(plugin, monkeypatch):
    assert _train_seeing(plugin, "inprocess", monkeypatch) == [True]


def test_the_pipeline_engine_leaves_them_to_its_step_processes(plugin, monkeypatch):
    # Its trials train in other processes: importing here would only cost this one time.
    assert _train_seeing(plugin, "pipeline", monkeypatch) == [False]


def test_a_function_study_has_nothing_to_import_ahead():
    bench_run.import_ahead("python")  # the user's own function: no plug-in, no declared imports


def _found(module: str) -> bool:
    """Whether `module` exists, found without running any package's __init__ (find_spec("a.b") imports a:
    torch_geometric takes seconds)."""
    top, *parts = module.split(".")
    spec = importlib.util.find_spec(top)
    for part in parts:
        if spec is None or spec.submodule_search_locations is None:
            return False
        spec = importlib.machinery.PathFinder.find_spec(part, list(spec.submodule_search_locations))
    return spec is not None


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_built_in_plug_in_declares_modules_that_exist(task):
    plugin = load_task(task)
    for module in (*plugin.warm_imports, *plugin.late_imports):
        assert _found(module), f"{task}: no module {module!r}"
