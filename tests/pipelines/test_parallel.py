"""Parallel trials: `parallel: k` rounds, compiled for a cluster and run on KFP's local runner."""

import pytest
import yaml
from agenthpo.pipelines.study_pipeline import compile_pipeline
from conftest import ROOT, run_cli, write_spec

from agenthpo.spec import load_spec
from agenthpo.trial import TrialState


def compiled(tmp_path, parallel: int, trials: int) -> dict:
    spec = load_spec(ROOT / "examples" / "water-potability.yaml").replace(parallel=parallel)
    path = compile_pipeline(spec, tmp_path / "p.yaml", trials=trials)
    return next(yaml.safe_load_all(path.read_text()))  # the pipeline; a platform document may follow


@pytest.mark.parametrize("parallel, trials", [(3, 7), (2, 4)])
def test_each_round_is_a_parallel_for_of_k_training_tasks_behind_one_creator(tmp_path, parallel, trials):
    doc = compiled(tmp_path, parallel, trials)
    tasks = {t["taskInfo"]["name"]: (key, t) for key, t in doc["root"]["dag"]["tasks"].items()}
    rounds = -(-trials // parallel)
    for number in range(1, rounds + 1):
        key, loop = tasks[f"round-{number}"]
        assert loop["iteratorPolicy"]["parallelismLimit"] == parallel
        assert yaml.safe_load(loop["parameterIterator"]["items"]["raw"]) == list(range(parallel))
        assert tasks[f"round-{number}-creator"][0] in loop["dependentTasks"]
        body = doc["components"][loop["componentRef"]["name"]]["dag"]["tasks"]
        inner = {t["taskInfo"]["name"] for t in body.values()}
        assert inner == {f"round-{number}-train", f"round-{number}-analyze"}
        if number > 1:  # the next Creator waits for the whole previous round (its analyses, fanned in)
            assert tasks[f"round-{number - 1}"][0] in tasks[f"round-{number}-creator"][1]["dependentTasks"]
    assert tasks[f"round-{rounds}"][0] in tasks["report"][1]["dependentTasks"]
    assert f"round-{rounds + 1}-creator" not in tasks


def test_a_sequential_spec_keeps_one_chain_of_trials(tmp_path):
    tasks = {t["taskInfo"]["name"] for t in compiled(tmp_path, 1, 2)["root"]["dag"]["tasks"].values()}
    assert tasks == {"open-study", "trial-1-creator", "trial-1-train", "trial-1-analyze", "trial-2-creator",
                     "trial-2-train", "trial-2-analyze", "report"}


@pytest.mark.slow
def test_a_parallel_study_on_the_local_runner_trains_k_distinct_trials_per_round(tmp_path):
    from agenthpo.tracking import MlflowStudyStore

    spec = yaml.safe_load((ROOT / "examples" / "analytic" / "branin.yaml").read_text())
    spec.update(name="branin-parallel", proposer="tpe", parallel=2, budget={"trials": 5, "max_failed_trials": 3})
    done = run_cli("tune", write_spec(tmp_path / "spec.yaml", spec), cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "budget of 5 trials used" in done.stdout

    store = MlflowStudyStore(f"sqlite:///{tmp_path / 'mlflow.db'}")
    study_id = store.find_study("branin-parallel")
    history = store.history(study_id)
    assert [t.number for t in history] == [1, 2, 3, 4, 5]
    assert all(t.state == TrialState.FINISHED and t.source == "tpe" for t in history)
    assert len({(t.params["x1"], t.params["x2"]) for t in history}) == 5, "no configuration twice"
    runs = {t.number: store.client.get_run(t.run_id) for t in history}
    assert all(run.data.tags["mlflow.parentRunId"] == study_id for run in runs.values())
    # Rounds of 2, 2 and 1: a round's trials are all opened by its Creator before any of them ends.
    for first, second in ((1, 2), (3, 4)):
        assert runs[second].info.start_time <= runs[first].info.end_time
    assert store.client.get_run(study_id).data.metrics["study/trials_finished"] == 5
