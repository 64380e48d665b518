"""Scheduled retuning with `agenthpo tune` on KFP's local runner and MLflow: the data changes between runs.

Run 1 trains generation 1; run 2 on the same data trains nothing; run 3 on new data begins generation 2
with generation 1's best retrained first, and stops at its --trials-per-run share; run 4 finishes the
generation; `report SPEC` shows the generations.
"""

import pytest
from conftest import quadratic_spec, run_cli, write_spec

from agenthpo import names

pytestmark = pytest.mark.slow


def test_changed_data_begins_generation_2_with_generation_1_s_best_first(tmp_path, sqlite_uri):
    from agenthpo.tracking import MlflowStudyStore

    data = tmp_path / "weekly.csv"
    data.write_text("x\n1\n")
    spec = write_spec(tmp_path / "spec.yaml", quadratic_spec(sqlite_uri, data=str(data), proposer="tpe",
                                                              budget={"trials": 3, "max_failed_trials": 3}))

    def tune(*extra):
        done = run_cli("tune", spec, "--workdir", tmp_path / "work", *extra, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    first = tune()
    assert "generation" not in first.split("\n")[0] and "done: budget of 3 trials used" in first
    unchanged = tune()
    assert "resuming after 3 trials" in unchanged and "  trial " not in unchanged
    assert "done: budget of 3 trials used" in unchanged

    data.write_text("x\n1\n2\n")  # next week's data
    share = tune("--trials-per-run", "2")
    assert "agenthpo: the data changed since generation 1 (3 trials): generation 2 begins, retraining " \
           "generation 1's best 2 first" in share
    assert "  trial   4/6   warm_start " in share and "  trial   5/6   warm_start " in share  # after generation 1's
    assert "this run's share of 2 trials trained (--trials-per-run); 1 of the generation's 3 are left" in share
    rest = tune()
    assert "3 trials of generation 2, resuming after 2 trials" in rest and "  trial   6/6   tpe " in rest

    store = MlflowStudyStore(sqlite_uri)
    study_id = store.find_study("quadratic")
    history = store.history(study_id)
    one, two = [t for t in history if t.generation == 1], [t for t in history if t.generation == 2]
    assert [t.number for t in one] == [1, 2, 3] and [t.number for t in two] == [4, 5, 6]
    best_one = sorted(one, key=lambda t: -t.value)[:2]
    assert [dict(t.params) for t in two[:2]] == [dict(t.params) for t in best_one]
    assert [t.source for t in two] == ["warm_start", "warm_start", "tpe"]
    tags = store.client.get_run(study_id).data.tags
    assert tags[names.GENERATION] == "2" and [g["generation"] for g in store.generations_log(study_id)] == [1, 2]
    assert store.client.get_run(two[0].run_id).data.tags[names.GENERATION] == "2"

    report = run_cli("report", spec, cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "## Generations" in report.stdout and "| 2 | 3 |" in report.stdout
    assert f"generation 1's best (trial {best_one[0].number}" in report.stdout
