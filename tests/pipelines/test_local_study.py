"""Whole studies through `agenthpo tune` on KFP's local runner, as a user runs them."""

import json

import pytest
from conftest import ROOT, run_cli
from mlflow.tracking import MlflowClient

from agenthpo.trial import TrialState

pytestmark = pytest.mark.slow


def check_study(uri: str, name: str, trials: int, metric: str):
    from agenthpo.tracking import MlflowStudyStore

    store = MlflowStudyStore(uri)
    study_id = store.find_study(name)
    assert study_id
    history = store.history(study_id)
    assert [t.number for t in history] == list(range(1, trials + 1))
    assert all(t.state == TrialState.FINISHED for t in history)
    client = MlflowClient(uri)
    for trial in history:
        run = client.get_run(trial.run_id)
        assert run.data.tags["mlflow.parentRunId"] == study_id
        assert run.data.tags["agenthpo.source"] == "tpe" and "Verdict" in run.data.tags["mlflow.note.content"]
        assert metric in run.data.metrics and run.data.metrics["time/train_seconds"] > 0
        assert "learning_curves.png" in {a.path for a in client.list_artifacts(trial.run_id)}
        steps = client.get_metric_history(trial.run_id, next(k for k in run.data.metrics if k.startswith("validation_")
                                                               and len(client.get_metric_history(trial.run_id, k)) > 1))
        assert len(steps) == trial.params["n_estimators"]
    study = client.get_run(study_id)
    assert study.info.status == "FINISHED"
    assert {"report.md", "report.html", "optimization_history.png", "spec.json"} <= {
        a.path for a in client.list_artifacts(study_id)}
    assert study.data.metrics["study/trials_finished"] == trials
    return history


@pytest.mark.parametrize("example, metric", [("water-potability", "f1"), ("house-price", "r2")])
def test_three_trial_study_on_the_local_runner(tmp_path, example, metric):
    done = run_cli("tune", ROOT / "examples" / f"{example}.yaml", "--trials", "3", "--proposer", "tpe", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    for number in (1, 2, 3):
        assert f"trial {number:>3}/3" in done.stdout
    assert "best: trial" in done.stdout and "orchestration" in done.stdout
    history = check_study(f"sqlite:///{tmp_path / 'mlflow.db'}", example, 3, metric)
    assert all(0 < t.value <= 1 for t in history)
    # Each training step's Metrics output (the Kubeflow UI compares runs by it), as KFP recorded it.
    recorded = [json.loads(p.read_text())["artifacts"]["metrics"]["artifacts"][0]["metadata"]
                for p in (tmp_path / ".agenthpo" / "outputs").rglob("executor_output.json")
                if p.parent.name.startswith("train")]
    by_trial = {int(m["trial"]): m for m in recorded}
    assert sorted(by_trial) == [1, 2, 3]
    assert all(by_trial[t.number][metric] == t.value and by_trial[t.number]["train_seconds"] > 0 for t in history)

    # Running again is a resume of a complete study: nothing more is trained.
    again = run_cli("tune", ROOT / "examples" / f"{example}.yaml", "--trials", "3", "--proposer", "tpe", cwd=tmp_path)
    assert again.returncode == 0 and "budget of 3 trials used" in again.stdout
    check_study(f"sqlite:///{tmp_path / 'mlflow.db'}", example, 3, metric)

    report = run_cli("report", example, cwd=tmp_path)
    assert report.returncode == 0 and f"# Study `{example}`" in report.stdout
