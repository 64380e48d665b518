"""A misspelt task option or a metric the plug-in does not report is refused with exit status 2 by every
command that reads a spec, before anything is recorded (no MLflow database, no KFP output)."""

import pytest
import yaml
from conftest import ROOT, run_cli, write_spec

WATER = yaml.safe_load((ROOT / "examples" / "water-potability.yaml").read_text())


def water(tmp_path, **changes):
    data = {**WATER, **changes, "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    data["data"] = str(ROOT.parent / "shared" / "data" / "water_potability" / "water_potability.csv")
    return write_spec(tmp_path / "spec.yaml", data)


MISSPELT = {"task_options": {**WATER["task_options"], "split_sed": 1}}
NOT_REPORTED = {"objective": {"metric": "auc", "direction": "maximize"}}
CASES = [
    pytest.param(MISSPELT, "task_options.split_sed: unknown", "did you mean 'split_seed'?", id="misspelt-option"),
    pytest.param(NOT_REPORTED, "objective.metric: 'auc' is not reported", "f1", id="unreported-metric"),
]


def commands(tmp_path, spec):
    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml.safe_dump({"name": "refusal", "specs": [str(spec)], "proposers": ["random"],
                                     "tracking_uri": f"sqlite:///{tmp_path / 'bench.db'}",
                                     "out": str(tmp_path / "results")}))
    return {
        "compile": ["compile", spec, "-o", tmp_path / "pipeline.yaml"],
        "tune": ["tune", spec, "--proposer", "random", "--workdir", tmp_path / "work"],
        "bench": ["bench", suite, "--workdir", tmp_path / "work"],
    }


@pytest.mark.slow
@pytest.mark.parametrize("change, where, hint", CASES)
@pytest.mark.parametrize("command", ["compile", "tune", "bench"])
def test_refused_with_exit_2_before_anything_is_recorded(tmp_path, change, where, hint, command):
    spec = water(tmp_path, **change)
    done = run_cli(*commands(tmp_path, spec)[command], cwd=tmp_path, timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{spec}: {where}" in done.stderr and hint in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "bench.db").exists()
    assert not (tmp_path / "pipeline.yaml").exists() and not (tmp_path / "work").exists()
