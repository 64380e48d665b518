"""`make bench-scale`'s study stores and its output; a warm Creator step reads only the trials that are new
(issue 14), whatever the study's size."""

import importlib.util
from pathlib import Path

import pytest

from agenthpo import study

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "scale.py"
_SPEC = importlib.util.spec_from_file_location("scale_bench", _PATH)
scale = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(scale)


@pytest.mark.parametrize("trials", [20, 120])
def test_a_warm_creator_step_reads_the_same_few_runs_at_any_size(tmp_path, sqlite_uri, trials):
    spec = scale.make_spec(sqlite_uri, trials)
    store, study_id = scale.build(spec, trials)
    assert len(store.history(study_id)) == trials
    view = store._runs[study_id]
    for _ in range(2):
        before = view.read
        proposed = study.create_round(spec, store, study_id, slots=1)
        # The new trial (and the one before it, until its analysis settled it), read again by each of the
        # step's dozen looks: the same count at any size, nothing older than the clock slack.
        assert view.read - before <= 20, view.read - before
        scale.settle(store, proposed.configs[0])
    assert [t.number for t in store.history(study_id)][-2:] == [trials + 1, trials + 2]


def test_the_benchmark_prints_its_table_and_closing_line(capsys):
    scale.main(["15"])
    out = capsys.readouterr().out
    assert "| 15 |" in out and "creator step at 15 trials:" in out
