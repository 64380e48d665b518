"""The README's Python blocks run as written: the quick start, the Optuna bridge and the plug-in example."""

import re

import pytest
from conftest import ROOT

from agenthpo.tasks.base import TaskPlugin


def python_blocks(after: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index(after):]
    section = section[:section.index("\n## ", 1)] if "\n## " in section[1:] else section
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_python_quick_start_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    quick_start, optuna_bridge = python_blocks("### In Python")[:2]
    scope: dict = {}
    exec(compile(quick_start, "README quick start", "exec"), scope)
    study = scope["study"]
    assert len(study.trials) == 11 and study.trials[-1].value == 0.5  # ten optimized, one told
    assert study.best_value > 0.8 and "lr" in study.best_params
    assert (tmp_path / "mlflow.db").exists()
    exec(compile(optuna_bridge, "README Optuna bridge", "exec"), scope)
    import optuna

    assert len(optuna.load_study(study_name="quickstart", storage="sqlite:///optuna.db").trials) == 11


def test_the_plug_in_example_defines_a_plug_in():
    (example,) = python_blocks("## Writing a task plug-in")[:1]
    scope: dict = {}
    exec(compile(example, "README plug-in", "exec"), scope)
    task = scope["TASK"]
    assert isinstance(task, TaskPlugin) and task.options[0].name == "image_size"
    task.check_metric("accuracy")
    with pytest.raises(Exception, match="image_sise"):
        task.check_options({"image_sise": 32})
