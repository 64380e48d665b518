"""Data contracts: great-expectations underneath, failures named, studies refuse bad data before training."""

import subprocess
import sys

import pandas as pd
import pytest
from conftest import ROOT, run_cli, write_spec

from agenthpo.spec import load_spec, parse_spec
from agenthpo.tasks import TrialContext, load_task
from agenthpo.tasks.contracts import (
    DataContractError,
    data_fingerprint,
    enforce,
    expect,
    has_contract,
    user_expectations,
    validate_frame,
)


def test_failures_name_the_expectation_and_the_bad_values():
    frame = pd.DataFrame({"label": [0, 1, 1, 7], "x": [0.5, None, 2.0, 3.0]})
    report = validate_frame("toy", frame, [
        expect("column_values_to_be_in_set", column="label", value_set=[0, 1]),
        expect("column_values_to_not_be_null", column="x"),
        expect("table_row_count_to_be_between", min_value=2, max_value=10),
        expect("column_to_exist", column="y"),
    ])
    assert report.rows == 4 and report.checked == 4 and not report.passed
    assert report.failures[0] == ("expect_column_values_to_be_in_set(column='label', value_set=[0, 1]): "
                                  "1 unexpected value(s), e.g. [7]")
    assert report.failures[1].startswith("expect_column_values_to_not_be_null(column='x'): 1 unexpected")
    assert report.failures[2].startswith("expect_column_to_exist(column='y')")
    assert len(report.failures) == 3
    with pytest.raises(DataContractError, match=r"data contract failed for toy.csv \(3 failed expectation"):
        enforce("toy.csv", [report])


def test_a_clean_table_passes_and_unknown_expectations_are_refused():
    frame = pd.DataFrame({"label": [0, 1]})
    report = validate_frame("toy", frame, [expect("column_values_to_be_in_set", column="label", value_set=[0, 1])])
    assert report.passed and report.to_json()["passed"]
    enforce("toy.csv", [report])
    with pytest.raises(ValueError, match=r"expectation 'values_to_be_nice' is not a great-expectations"):
        validate_frame("toy", frame, [expect("values_to_be_nice")])


def test_spec_written_expectations_are_checked():
    assert user_expectations([{"expect": "column_to_exist", "column": "a"}]) == [expect("column_to_exist", column="a")]
    with pytest.raises(ValueError, match=r"task_options.expectations: \[\{'column': 'a'\}\] must be a list of"):
        user_expectations([{"column": "a"}])
    with pytest.raises(ValueError, match=r"task_options.expectations: 'ph' must be a list"):
        user_expectations("ph")


def test_fingerprint_follows_the_data_files(tmp_path):
    data = tmp_path / "table.csv"
    data.write_text("a,b\n1,2\n")
    spec = parse_spec({"name": "s", "task": "xgboost-regression", "data": str(data), "task_options": {"target": "b"},
                       "objective": {"metric": "r2"}, "space": {"max_depth": {"type": "int", "low": 1, "high": 3}},
                       "budget": {"trials": 1}, "tracking_uri": "sqlite:///x.db"}, base_dir=None)
    first = data_fingerprint(spec)
    assert data_fingerprint(spec) == first
    data.write_text("a,b\n1,2\n3,4\n")
    assert data_fingerprint(spec) != first


@pytest.mark.parametrize("example", ["water-potability", "house-price"])
def test_tabular_examples_pass_their_contracts(example):
    spec = load_spec(ROOT / "examples" / f"{example}.yaml")
    reports = load_task(spec.task).check_data(TrialContext(spec.data, spec.task_options))
    assert [r.passed for r in reports] == [True] and reports[0].checked >= 8


def test_a_broken_table_is_rejected_with_its_failures(water_csv, tmp_path):
    frame = pd.read_csv(water_csv)
    frame.loc[3, "ph"] = 19.5
    frame.loc[7, "Potability"] = 2
    broken = tmp_path / "water.csv"
    frame.to_csv(broken, index=False)
    spec = load_spec(ROOT / "examples" / "water-potability.yaml")
    reports = load_task(spec.task).check_data(TrialContext(str(broken), spec.task_options))
    failures = reports[0].failures
    assert any("column='ph'" in f and "[19.5]" in f for f in failures)
    assert any("column='Potability', value_set=[0, 1]" in f and "[2]" in f for f in failures)


@pytest.mark.slow
def test_tune_refuses_bad_data_and_records_why(water_csv, tmp_path):
    from agenthpo.tracking import MlflowStudyStore
    from mlflow.tracking import MlflowClient

    frame = pd.read_csv(water_csv)
    frame.loc[0, "ph"] = -4.0
    broken = tmp_path / "water.csv"
    frame.to_csv(broken, index=False)
    spec = load_spec(ROOT / "examples" / "water-potability.yaml").to_json()
    spec.update(data=str(broken), proposer="random", tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    done = run_cli("tune", write_spec(tmp_path / "spec.yaml", spec), "--trials", "2", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "data contract failed" in done.stderr and "column='ph'" in done.stderr and "[-4.0]" in done.stderr
    store = MlflowStudyStore(spec["tracking_uri"])
    study_id = store.find_study("water-potability")
    assert store.history(study_id) == []  # nothing trained on bad data
    run = MlflowClient(spec["tracking_uri"]).get_run(study_id)
    assert run.info.status == "FAILED" and run.data.tags["agenthpo.data_contract"] == "failed"
    assert "Data contract failed" in run.data.tags["mlflow.note.content"]
    assert "data_contract.json" in {a.path for a in MlflowClient(spec["tracking_uri"]).list_artifacts(study_id)}


@pytest.mark.slow
def test_missing_data_is_a_clear_error_not_a_traceback(tmp_path):
    spec = load_spec(ROOT / "examples" / "house-price.yaml").to_json()
    spec.update(data=str(tmp_path / "nowhere.csv"), proposer="random", tracking_uri=f"sqlite:///{tmp_path / 'm.db'}")
    done = run_cli("tune", write_spec(tmp_path / "spec.yaml", spec), "--trials", "1", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "cannot read the data" in done.stderr and "nowhere.csv" in done.stderr


def test_only_a_plug_in_that_checks_its_data_has_a_contract():
    from agenthpo.tasks.base import TaskPlugin

    class Plain:  # a bare `Task` (the Python API's function): no check_data at all
        name, description = "plain", ""

        def train(self, params, ctx):
            return {}

    assert has_contract(load_task("xgboost-classification")) and has_contract(load_task("text-classification"))
    assert not has_contract(load_task("branin")) and not has_contract(Plain())
    assert not has_contract(type("NoChecks", (TaskPlugin,), {"name": "none"})())


@pytest.mark.slow  # a fresh interpreter that imports great-expectations
@pytest.mark.parametrize(("task", "imported"), [("xgboost-classification", True), ("branin", False)])
def test_tune_imports_great_expectations_ahead_only_for_a_task_with_a_contract(task, imported):
    # In a fresh interpreter: this one may have imported great-expectations already.
    code = ("import sys, threading, types\n"
            "from agenthpo.cli.tune import _import_contract_stack\n"
            f"_import_contract_stack(types.SimpleNamespace(task={task!r}))\n"  # it reads the spec's task only
            "for thread in threading.enumerate():\n"
            "    if thread.name == 'contract-imports':\n"
            "        thread.join()\n"
            "print('great_expectations' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert result.stdout.strip().splitlines()[-1] == str(imported)
