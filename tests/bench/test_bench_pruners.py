"""Comparing pruners in a benchmark: arms (proposer x pruner) named and derived from the suite, and the
training-time table (time to target, the change against the first pruner) and plot from their outcomes."""

import pytest
from bench_helpers import tiny_data

from agenthpo.bench import StudyOutcome, aggregate, parse_suite
from agenthpo.bench.timing import targets, time_table
from agenthpo.errors import FieldError
from agenthpo.trial import Objective

MINIMIZE = Objective("value", "minimize")


def test_each_proposer_runs_with_each_pruner(tmp_path):
    suite = parse_suite(tiny_data(proposers=["tpe", "random"],
                                  pruners=["none", {"name": "median", "n_startup_trials": 2}]), tmp_path)
    assert suite.labels == ("tpe", "tpe-median", "random", "random-median")
    spec = suite.study_spec(suite.entries[0], "tpe-median", 1)
    assert spec.name == f"{suite.name}.branin.tpe-median.r1"
    assert spec.proposer.name == "tpe" and spec.pruner.to_json()["n_startup_trials"] == 2
    assert suite.study_spec(suite.entries[0], "tpe", 1).pruner.name == "none"
    assert suite.to_json()["pruners"][1] == {"name": "median", "n_startup_trials": 2, "n_warmup_steps": 0,
                                            "interval_steps": 1}


def test_a_pruner_named_on_the_command_line_keeps_the_suite_s_options(tmp_path):
    suite = parse_suite(tiny_data(pruners=[{"name": "median", "n_warmup_steps": 3}]), tmp_path)
    changed = suite.with_overrides(pruners=["none", "median", "asha"])
    assert [p.name for p in changed.pruners] == ["none", "median", "asha"]
    assert changed.pruners[1].options["n_warmup_steps"] == 3
    with pytest.raises(FieldError, match=r"^command line: --pruners\.name: 'medain' is not one of"):
        suite.with_overrides(pruners=["medain"])


@pytest.mark.parametrize("pruners, message", [
    ([], "pruners: [] must be a non-empty list"),
    (["none", "none"], "names a pruner twice"),
    ([{"name": "median", "n_warmup_step": 1}], "pruners[0].n_warmup_step: unknown field"),
])
def test_a_bad_pruner_list_names_the_field(tmp_path, pruners, message):
    with pytest.raises(FieldError) as error:
        parse_suite(tiny_data(pruners=pruners), tmp_path, "suite.yaml")
    assert message in str(error.value)


def test_time_to_target_and_the_change_against_the_first_pruner(tmp_path):
    suite = parse_suite(tiny_data(proposers=["tpe"], pruners=["none", "median"], trials=3), tmp_path)
    outcomes = [
        StudyOutcome("branin", "tpe", 0, MINIMIZE, (5.0, 2.0, 4.0), trial_seconds=(10.0, 10.0, 10.0)),
        StudyOutcome("branin", "tpe", 1, MINIMIZE, (3.0, 4.0, 4.0), trial_seconds=(10.0, 10.0, 10.0)),
        StudyOutcome("branin", "tpe-median", 0, MINIMIZE, (5.0, 2.0, None), pruned=1, trial_seconds=(10.0, 10.0, 1.0)),
        StudyOutcome("branin", "tpe-median", 1, MINIMIZE, (3.0, None, None), pruned=2, trial_seconds=(10.0, 2.0, 2.0)),
    ]
    results = aggregate(suite, outcomes)
    assert targets(results)["branin"] == 2.5  # the mean of tpe's final bests, 2 and 3
    rows = time_table(results)["branin"]
    assert rows["tpe"]["seconds_to_target"] == 20.0 and rows["tpe"]["reached"] == 1  # repeat 1 never reached 2.5
    assert rows["tpe-median"]["train_seconds"] == pytest.approx(17.5)
    assert rows["tpe-median"]["change_pct"] == pytest.approx(100 * (17.5 / 30 - 1))
    assert rows["tpe-median"]["pruned_per_study"] == 1.5
    markdown = results.markdown()
    assert "### branin (target 2.5)" in markdown
    assert "| tpe-median | 2.5 ± 0.5 | 17.5 | -42% | 20.0 s (1/2) | 1.5 |" in markdown
    files = results.write(tmp_path / "out")
    assert (tmp_path / "out" / "time_branin.png") in files and (tmp_path / "out" / "time_branin.png").stat().st_size
