"""`agenthpo check` (spec, plug-in and data contract, nothing trained or recorded) and `agenthpo tasks`."""

import json

import pytest
import yaml
from conftest import ROOT, run_cli

from agenthpo.space import SearchSpace
from agenthpo.tasks import TASKS
from agenthpo.tasks.catalog import describe_task

# Whole studies, or the CLI in subprocesses (seconds each).
pytestmark = pytest.mark.slow

EXAMPLE = ROOT / "examples" / "water-potability.yaml"


def spec_on(tmp_path, csv, **task_options):
    data = yaml.safe_load(EXAMPLE.read_text())
    data["data"] = str(csv)
    data["task_options"].update(task_options)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_check_passes_the_example_and_records_nothing(tmp_path):
    result = run_cli("check", EXAMPLE, "--profile", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "3,276 rows, 10 expectations: passed" in result.stdout and '"class_shares"' in result.stdout
    assert result.stdout.rstrip().endswith(f"ready: agenthpo tune {EXAMPLE}")
    assert list(tmp_path.iterdir()) == []  # no mlflow.db, no logs


def test_check_fails_on_data_that_breaks_the_contract(tmp_path, water_csv):
    lines = water_csv.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[5].split(",")
    row[header.index("ph")] = "19.5"  # no water has a pH above 14
    broken = tmp_path / "water.csv"
    broken.write_text("\n".join([lines[0], *lines[1:5], ",".join(row), *lines[6:]]) + "\n")
    result = run_cli("check", spec_on(tmp_path, broken), cwd=tmp_path)
    assert result.returncode == 1
    assert "FAILED (1)" in result.stdout and "ready:" not in result.stdout
    assert "column='ph'" in result.stdout and "e.g. [19.5] at data row(s) [5]" in result.stdout


def test_check_refuses_a_bad_spec_naming_the_field(tmp_path, water_csv):
    result = run_cli("check", spec_on(tmp_path, water_csv, targett="Potability"), cwd=tmp_path)
    assert result.returncode == 2 and "task_options.targett" in result.stderr and "target" in result.stderr


def test_check_says_when_the_data_cannot_be_read(tmp_path):
    result = run_cli("check", spec_on(tmp_path, tmp_path / "missing.csv"), cwd=tmp_path)
    assert result.returncode == 1 and "cannot read the data" in result.stdout


def test_tasks_lists_every_plug_in(tmp_path):
    result = run_cli("tasks", cwd=tmp_path)
    assert result.returncode == 0
    listed = [line.split()[0] for line in result.stdout.splitlines()[:len(TASKS) + 1]]
    assert listed == [*TASKS, "python"]
    assert "maximize f1" in result.stdout


def test_one_task_shows_options_metrics_and_a_space_a_spec_can_take(tmp_path):
    result = run_cli("tasks", "xgboost-classification", cwd=tmp_path)
    assert result.returncode == 0
    assert "target (str, that is not empty; default REQUIRED): the label column of the CSV" in result.stdout
    assert "metrics: f1, validation_f1" in result.stdout
    block = result.stdout.split("default space (copy into a spec):\n", 1)[1].split("\n\n", 1)[0]
    space = SearchSpace.from_json(yaml.safe_load(block)["space"])
    assert "max_depth" in space.names and "n_estimators" in space.names
    as_json = run_cli("tasks", "xgboost-classification", "--json", cwd=tmp_path)
    assert json.loads(as_json.stdout) == json.loads(json.dumps(describe_task("xgboost-classification")))


def test_an_unknown_task_is_a_usage_error_with_a_suggestion(tmp_path):
    result = run_cli("tasks", "xgboost-classifcation", cwd=tmp_path)
    assert result.returncode == 2 and "did you mean 'xgboost-classification'" in result.stderr
