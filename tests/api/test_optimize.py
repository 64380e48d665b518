"""The Python API's optimize(): the same records as `agenthpo tune`, a function as the training code."""

import pytest
from mlflow.tracking import MlflowClient

import agenthpo
from agenthpo.errors import FieldError

SPACE = {"x": {"type": "float", "low": -3.0, "high": 3.0}, "layers": {"type": "int", "low": 1, "high": 4}}
OBJECTIVE = {"metric": "score", "direction": "maximize"}


def train(params, ctx):
    for epoch in range(1, 4):
        ctx.report(epoch, validation_loss=(params["x"] - 1) ** 2 + 1 / epoch)
    return {"score": -((params["x"] - 1) ** 2) - 0.1 * params["layers"], "extra": 1.5}


def make(sqlite_uri, **fields):
    fields = {"space": SPACE, "objective": OBJECTIVE, "proposer": "tpe", "budget": {"trials": 6},
              "tracking_uri": sqlite_uri, **fields}
    return agenthpo.create_study(name="api", **fields)


def test_optimize_records_a_study_as_tune_does(sqlite_uri):
    study = make(sqlite_uri)
    study.optimize(train, n_trials=4)
    trials = study.trials
    assert [t.number for t in trials] == [1, 2, 3, 4] and all(t.state.value == "FINISHED" for t in trials)
    assert all(t.facts.get("verdict") for t in trials)  # the Executor's analysis was written
    client = MlflowClient(sqlite_uri)
    study_run = client.get_run(study.study_id)
    assert study_run.data.tags["agenthpo.task"] == "python"
    assert "report.md" in [a.path for a in client.list_artifacts(study.study_id)]  # optimize() reports at its end
    best = study.best_trial
    note = study_run.data.tags["mlflow.note.content"]
    assert note.startswith(f"**Best: [trial {best.number}](#/experiments/") and "\n\n# Study `api`" in note
    assert study_run.info.status == "FINISHED"
    child = client.get_run(trials[0].run_id)
    assert child.data.tags["mlflow.parentRunId"] == study.study_id
    assert child.data.tags["mlflow.note.content"]  # the Executor's note
    assert [m.step for m in client.get_metric_history(trials[0].run_id, "validation_loss")] == [1, 2, 3]
    assert child.data.metrics["extra"] == 1.5
    best = study.best_trial
    assert best.value == max(t.value for t in trials) and study.best_params == dict(best.params)
    assert study.best_value == best.value
    frame = study.trials_dataframe()
    assert list(frame["number"]) == [1, 2, 3, 4] and {"params_x", "params_layers", "value", "state"} <= set(frame)
    assert list(frame["generation"]) == [1, 1, 1, 1]  # data never changed (agenthpo.generations)
    assert frame.loc[frame["number"] == best.number, "value"].item() == best.value


def test_optimize_runs_to_the_budget_and_a_number_is_the_objective(sqlite_uri):
    study = make(sqlite_uri, budget={"trials": 3})
    study.optimize(lambda params, ctx: -abs(params["x"]))
    assert len(study.trials) == 3 and study.stop_reason() == "budget of 3 trials used"
    study.optimize(lambda params, ctx: 0.0)  # nothing left: returns at once
    assert len(study.trials) == 3


def test_a_raising_function_is_a_failed_trial_and_the_study_goes_on(sqlite_uri):
    calls = []

    def flaky(params, ctx):
        calls.append(params)
        if len(calls) == 2:
            raise RuntimeError("CUDA out of memory")
        if len(calls) == 3:
            return {"score": "high"}
        return 1.0

    study = make(sqlite_uri, budget={"trials": 4, "max_failed_trials": 3})
    study.optimize(flaky)
    states = [t.state.value for t in study.trials]
    assert states == ["FINISHED", "FAILED", "FAILED", "FINISHED"]
    assert study.trials[1].error == "RuntimeError: CUDA out of memory"
    assert "'score': 'high'" in study.trials[2].error and "number" in study.trials[2].error


def test_keyboard_interrupt_marks_the_trial_interrupted(sqlite_uri):
    def interrupted(params, ctx):
        raise KeyboardInterrupt

    study = make(sqlite_uri)
    with pytest.raises(KeyboardInterrupt):
        study.optimize(interrupted)
    (trial,) = study.trials
    assert trial.state.value == "INTERRUPTED"
    study.optimize(lambda params, ctx: 1.0, n_trials=1)  # an interrupted trial is not counted
    assert [t.state.value for t in study.trials] == ["INTERRUPTED", "FINISHED"]


def test_bad_input_is_refused_before_anything_is_recorded(sqlite_uri):
    with pytest.raises(FieldError, match=r"space\.x.*low"):
        make(sqlite_uri, space={"x": {"type": "float", "low": 3.0, "high": -3.0}})
    with pytest.raises(FieldError, match="budgets"):
        make(sqlite_uri, budgets={"trials": 3})
    with pytest.raises(FieldError, match="name"):
        agenthpo.create_study(space=SPACE, objective=OBJECTIVE, tracking_uri=sqlite_uri)
    assert MlflowClient(sqlite_uri).search_runs([e.experiment_id for e in MlflowClient(
        sqlite_uri).search_experiments()]) == []
    study = make(sqlite_uri)
    with pytest.raises(ValueError, match="n_trials=0"):
        study.optimize(train, n_trials=0)
    with pytest.raises(TypeError, match="not callable"):
        study.optimize("train")
    with pytest.raises(TypeError, match="pass fn"):
        study.optimize()
    assert study.trials == []


def test_a_spec_file_with_a_plug_in_runs_without_a_function(sqlite_uri, tmp_path):
    spec = tmp_path / "branin.yaml"
    spec.write_text(f"""name: branin-api
task: branin
objective: {{metric: value, direction: minimize}}
space:
  x1: {{type: float, low: -5.0, high: 10.0}}
  x2: {{type: float, low: 0.0, high: 15.0}}
budget: {{trials: 3}}
proposer: random
tracking_uri: {sqlite_uri}
""")
    study = agenthpo.create_study(spec=spec, budget={"trials": 2})  # a keyword overrides the file
    with pytest.raises(FieldError, match="plug-in 'branin'"):
        study.optimize(train)
    study.optimize()
    assert len(study.trials) == 2 and study.best_value == min(t.value for t in study.trials)


def test_create_load_and_resume(sqlite_uri):
    first = make(sqlite_uri)
    first.optimize(train, n_trials=2)
    with pytest.raises(agenthpo.StudyExists, match="load_if_exists=True"):
        make(sqlite_uri)
    again = make(sqlite_uri, load_if_exists=True)
    assert again.study_id == first.study_id
    loaded = agenthpo.load_study("api", tracking_uri=sqlite_uri)
    assert loaded.study_id == first.study_id and loaded.spec == first.spec
    loaded.optimize(train, n_trials=1)
    assert [t.number for t in loaded.trials] == [1, 2, 3]
    with pytest.raises(LookupError, match="no study 'nope'"):
        agenthpo.load_study("nope", tracking_uri=sqlite_uri)


def test_the_best_of_an_empty_study_says_why(sqlite_uri):
    with pytest.raises(ValueError, match="no finished trial yet"):
        _ = make(sqlite_uri).best_trial


def test_tune_refuses_a_python_study_and_says_how_to_run_it(tmp_path, sqlite_uri):
    from conftest import run_cli, write_spec

    spec = write_spec(tmp_path / "mine.yaml", {"name": "mine", "task": "python", "space": SPACE,
                                               "objective": OBJECTIVE, "budget": {"trials": 2},
                                               "tracking_uri": sqlite_uri})
    result = run_cli("tune", spec, cwd=tmp_path)
    assert result.returncode == 2 and "optimize(fn)" in result.stderr and "task" in result.stderr
    assert agenthpo.api._store(sqlite_uri).find_study("mine") is None  # nothing recorded


def test_importing_agenthpo_stays_light():
    import subprocess
    import sys

    code = ("import sys, agenthpo; assert callable(agenthpo.create_study); "
            "print(sorted(m for m in ('mlflow', 'kfp', 'torch', 'pandas') if m in sys.modules))")
    light = subprocess.run([sys.executable, "-c", "import sys, agenthpo; print(sorted(m for m in "
                            "('mlflow', 'kfp', 'torch', 'pandas', 'optuna') if m in sys.modules))"],
                           capture_output=True, text=True, check=True)
    assert light.stdout.strip() == "[]"
    api = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "torch" not in api.stdout and "kfp" not in api.stdout and "mlflow" not in api.stdout
