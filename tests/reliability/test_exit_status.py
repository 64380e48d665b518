"""`tune`'s exit status and resume rules: a study where no trial finished fails; a study goes on only with
the proposer it was created with (`--name` starts a new one from the same spec); the pipeline runs in
chunks, never unrolling the whole budget."""

import contextlib
import json
import time

import pytest
from conftest import quadratic_spec, run_cli, write_spec

from agenthpo.cli import main
from agenthpo.trial import TrialState


@pytest.fixture
def inprocess_pipeline(monkeypatch):
    """The pipeline's steps in this process, in place of KFP's local runner (seconds, not minutes)."""
    import agenthpo.pipelines.local as local

    from agenthpo import study

    def run_to_budget(spec, store, study_id, workdir, log_path, on_failure=None, per_run=None, early=None):
        study.run_inprocess(spec, store, study_id)

    monkeypatch.setattr(local, "run_to_budget", run_to_budget)

    monkeypatch.setattr(local, "started_early", lambda *args: contextlib.nullcontext())  # no KFP process


def store_for(uri: str):
    from agenthpo.tracking import MlflowStudyStore

    return MlflowStudyStore(uri)


def test_a_study_where_no_trial_finished_exits_1_saying_so(tmp_path, sqlite_uri, inprocess_pipeline, capsys):
    # Every trial fails, but fewer than max_failed_trials: the budget is used, yet there is no result.
    spec = write_spec(tmp_path / "spec.yaml", quadratic_spec(
        sqlite_uri, task_options={"raise_above": -1.0}, budget={"trials": 2, "max_failed_trials": 5}))
    assert main(["tune", str(spec), "--workdir", str(tmp_path / "work")]) == 1
    out, err = capsys.readouterr()
    assert "stopped: budget of 2 trials used" in out and "best: trial" not in out
    assert "agenthpo: no trial of study 'quadratic' finished, so it has no result" in err
    history = store_for(sqlite_uri).history(store_for(sqlite_uri).find_study("quadratic"))
    assert [t.state for t in history] == [TrialState.FAILED, TrialState.FAILED]


def test_a_study_with_a_finished_trial_exits_0(tmp_path, sqlite_uri, inprocess_pipeline, capsys):
    # The start configuration (x=0.1) finishes, the random ones above x=0.2 fail: the study has a result.
    spec = write_spec(tmp_path / "spec.yaml", quadratic_spec(
        sqlite_uri, task_options={"raise_above": 0.2}, budget={"trials": 3, "max_failed_trials": 5},
        start={"x": 0.1, "epochs": 2}))
    status = main(["tune", str(spec), "--workdir", str(tmp_path / "work")])
    out, err = capsys.readouterr()
    history = store_for(sqlite_uri).history(store_for(sqlite_uri).find_study("quadratic"))
    assert history[0].finished and len(history) == 3, history
    assert status == 0 and "no trial" not in err and "done: budget of 3 trials used" in out


def test_resuming_with_another_proposer_is_refused_and_a_new_name_starts_a_new_study(
        tmp_path, sqlite_uri, inprocess_pipeline, capsys):
    spec = write_spec(tmp_path / "spec.yaml", quadratic_spec(sqlite_uri, budget={"trials": 2, "max_failed_trials": 2}))
    work = ["--workdir", str(tmp_path / "work")]
    assert main(["tune", str(spec), *work]) == 0
    store = store_for(sqlite_uri)
    study_id = store.find_study("quadratic")
    before = store.history(study_id)
    capsys.readouterr()

    assert main(["tune", str(spec), "--proposer", "tpe", "--trials", "3", *work]) == 2
    out, err = capsys.readouterr()
    assert "study 'quadratic' was created with proposer 'random'; it does not go on with 'tpe'" in err
    assert f"resume it:       agenthpo tune {spec} --proposer random" in err
    assert f"or a new study:  agenthpo tune {spec} --proposer tpe --name quadratic-tpe" in err
    # Nothing was re-tagged, trained or re-opened.
    assert store.history(study_id) == before and store.load_spec(study_id).proposer.name == "random"
    assert store.client.get_run(study_id).data.tags["agenthpo.proposer"] == "random"

    # The same spec under a new name: a new study (its own experiment), the old one untouched.
    assert main(["tune", str(spec), "--proposer", "tpe", "--trials", "3", "--name", "quadratic-tpe", *work]) == 0
    out = capsys.readouterr().out
    assert "agenthpo: study 'quadratic-tpe': fault_tasks:QUADRATIC, proposer tpe, 3 trials\n" in out
    new_id = store.find_study("quadratic-tpe")
    assert new_id != study_id and len(store.history(new_id)) == 3
    assert store.load_spec(new_id).name == "quadratic-tpe" and store.load_spec(new_id).proposer.name == "tpe"
    assert store.history(study_id) == before

    # The same proposer resumes as before.
    assert main(["tune", str(spec), "--trials", "3", *work]) == 0
    assert len(store.history(study_id)) == 3


def test_a_bad_new_name_is_a_spec_error(tmp_path, sqlite_uri, capsys):
    spec = write_spec(tmp_path / "spec.yaml", quadratic_spec(sqlite_uri))
    assert main(["tune", str(spec), "--name", "no spaces allowed"]) == 2
    assert "agenthpo: invalid spec: command line: name: " in capsys.readouterr().err


@pytest.mark.slow
def test_a_huge_budget_runs_in_chunks_without_unrolling_it(tmp_path, sqlite_uri):
    # 100,000 trials (the most a spec may ask); every trial fails and the first failure ends the study.
    spec = write_spec(tmp_path / "spec.yaml", quadratic_spec(
        sqlite_uri, task_options={"raise_above": -1.0}, budget={"trials": 100_000, "max_failed_trials": 1}))
    started = time.monotonic()
    done = run_cli("tune", spec, "--workdir", tmp_path / "work", cwd=tmp_path, timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "study stopped: 1 trials failed" in done.stderr and time.monotonic() - started < 300
    chunks = [json.loads(p.read_text()) for p in (tmp_path / "work" / "outputs").glob("run-*/chunk.json")]
    assert [c["trials"] for c in chunks] == [20]


@pytest.mark.slow
def test_the_budget_is_used_over_several_pipeline_runs(tmp_path, sqlite_uri, monkeypatch, capsys):
    import agenthpo.pipelines.local as local

    monkeypatch.setattr(local, "CHUNK_TRIALS", 2)
    spec = write_spec(tmp_path / "spec.yaml", quadratic_spec(sqlite_uri, budget={"trials": 3, "max_failed_trials": 1}))
    assert main(["tune", str(spec), "--workdir", str(tmp_path / "work")]) == 0
    runs = sorted((tmp_path / "work" / "outputs").glob("run-*/chunk.json"), key=lambda p: p.stat().st_mtime)
    assert [json.loads(p.read_text())["trials"] for p in runs] == [2, 1]
    store = store_for(sqlite_uri)
    history = store.history(store.find_study("quadratic"))
    assert [(t.number, t.state) for t in history] == [(n, TrialState.FINISHED) for n in (1, 2, 3)]
    assert capsys.readouterr().out.count("  trial ") == 3
