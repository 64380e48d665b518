"""Suite files: what a bad one is told, per-spec repeats and best humans, the shipped suites."""

import pytest
import yaml
from bench_helpers import TINY, per_spec_data, tiny_data
from conftest import ROOT, run_cli

from agenthpo.bench import BenchmarkRun, aggregate, load_suite, parse_suite
from agenthpo.errors import FieldError


@pytest.mark.parametrize("change, message", [
    ({"repeats": 0}, "repeats: 0 must be an integer >= 1"),
    ({"proposers": ["tpe", "grid"]}, "proposers[1]: 'grid' is not one of"),
    ({"specs": []}, "specs: [] must be a non-empty list"),
    ({"specs": ["missing.yaml"]}, "specs[0].path: 'missing.yaml' does not exist"),
    ({"name": "my suite"}, "name: 'my suite' must be"),
    ({"colour": "red"}, "colour: unknown field"),
    ({"human_trials": -1}, "human_trials: -1 must be an integer >= 0"),
])
def test_a_bad_suite_names_the_field_and_the_value(tmp_path, change, message):
    with pytest.raises(FieldError) as error:
        parse_suite(tiny_data(**change), tmp_path, "suite.yaml")
    assert str(error.value).startswith("suite.yaml: ") and message in str(error.value)


@pytest.mark.parametrize("change, message", [
    ({"proposers": ["tpee"]}, "proposers[0]: 'tpee' is not one of ['agent', 'llm', 'random', 'tpe'] "
                              "(did you mean 'tpe'?)"),
    ({"repeets": 2}, "repeets: unknown field 'repeets' (did you mean 'repeats'?)"),
    ({"specs": [5]}, "specs[0]: 5 must be a spec path or a mapping with 'path'"),
])
def test_a_near_miss_is_told_the_name_it_was_meant_to_be(tmp_path, change, message):
    with pytest.raises(FieldError) as error:
        parse_suite(tiny_data(**change), tmp_path, "suite.yaml")
    assert str(error.value).startswith("suite.yaml: ") and message in str(error.value)


def test_a_bad_override_names_the_option_and_the_command_line():
    suite = load_suite(TINY)
    with pytest.raises(FieldError) as error:
        suite.with_overrides(proposers=["random", "tpee"])
    assert (error.value.path, error.value.source) == ("proposers[1]", "command line")
    assert "did you mean 'tpe'?" in str(error.value)
    with pytest.raises(FieldError, match=r"^command line: --human-trials: -1 must be an integer >= 0$"):
        suite.with_overrides(human_trials=-1)


def test_a_bad_start_in_the_suite_is_refused_before_anything_runs(tmp_path):
    data = tiny_data()
    data["specs"][0]["start"] = {"x1": 99.0, "x2": 5.0}
    with pytest.raises(ValueError, match=r"start\.x1: 99\.0 outside \[-5\.0, 10\.0\]"):
        parse_suite(data, tmp_path, "suite.yaml")


def test_the_cli_exits_2_on_a_bad_suite_or_override(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(tiny_data(trials="ten")))
    done = run_cli("bench", path, cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and "invalid suite" in done.stderr and "trials: 'ten' must be" in done.stderr
    done = run_cli("bench", TINY, "--proposers", "tpe,grid", cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and "'grid' is not one of" in done.stderr
    assert not (tmp_path / "bench.db").exists()  # nothing was recorded


# -- per-spec repeats and best-human trials ----------------------------------------------------------

@pytest.mark.parametrize("entry, message", [
    ({"repeats": 0}, "specs[0].repeats: 0 must be an integer >= 1"),
    ({"repeats": "two"}, "specs[0].repeats: 'two' must be an integer >= 1"),
    ({"human_trials": -1}, "specs[0].human_trials: -1 must be an integer >= 0"),
    ({"colour": "red"},
     "specs[0].colour: unknown field 'colour'; allowed: ['human_trials', 'path', 'repeats', 'start']"),
    ({"repeat": 2}, "specs[0].repeat: unknown field 'repeat' (did you mean 'repeats'?)"),
])
def test_a_bad_suite_entry_names_the_entry_field_and_the_value(tmp_path, entry, message):
    data = tiny_data()
    data["specs"][0] = {**data["specs"][0], **entry}
    with pytest.raises(FieldError) as error:
        parse_suite(data, tmp_path, "suite.yaml")
    assert str(error.value).startswith("suite.yaml: ") and message in str(error.value)


def test_a_spec_of_the_suite_can_have_its_own_repeats_and_best_human_trials(tmp_path):
    from agenthpo.bench import Suite

    suite = parse_suite(per_spec_data(), tmp_path, "suite.yaml")
    branin, rosenbrock = suite.entries
    assert (suite.repeats_of(branin), suite.repeats_of(rosenbrock)) == (1, 2)
    assert (suite.human_trials_of(branin), suite.human_trials_of(rosenbrock)) == (3, 10)
    assert suite.human_spec(branin).budget.trials == 3 and suite.human_spec(rosenbrock).budget.trials == 10

    def planned(s: Suite) -> dict[str, list[tuple[str, int]]]:
        found: dict[str, list[tuple[str, int]]] = {}
        for entry, proposer, repeat in BenchmarkRun(s, store=None).plan():
            found.setdefault(entry.spec.name, []).append((proposer, repeat))
        return found

    plan = planned(suite)
    assert plan["branin"] == [("random", 0), ("tpe", 0), ("random", -1)]
    assert sorted(plan["rosenbrock-shifted"]) == [("random", -1), ("random", 0), ("random", 1), ("tpe", 0), ("tpe", 1)]
    # Repeat-major: every spec's repeat 0 comes before any repeat 1.
    order = [(e.spec.name, k) for e, _, k in BenchmarkRun(suite, store=None).plan() if k >= 0]
    assert order.index(("rosenbrock-shifted", 1)) > max(i for i, (_, k) in enumerate(order) if k == 0)

    markdown = aggregate(suite, []).markdown()
    assert "## branin (minimize value, 1 repeats)" in markdown
    assert "## rosenbrock-shifted (minimize value, 2 repeats)" in markdown
    assert "best of 3 random" in markdown and "best of 10 random" in markdown
    saved = suite.to_json()["specs"]
    assert [(s["repeats"], s["human_trials"]) for s in saved] == [(1, 3), (2, 10)]

    # A number on the command line applies to every spec, the entries' own numbers included.
    overridden = suite.with_overrides(repeats=3)
    assert [overridden.repeats_of(e) for e in overridden.entries] == [3, 3]
    assert [overridden.human_trials_of(e) for e in overridden.entries] == [3, 10]  # not overridden: kept
    assert {name: len([k for _, k in p if k >= 0]) for name, p in planned(overridden).items()} == {
        "branin": 6, "rosenbrock-shifted": 6}
    no_human = suite.with_overrides(human_trials=0)
    assert [no_human.human_trials_of(e) for e in no_human.entries] == [0, 0]
    assert all(k >= 0 for _, _, k in BenchmarkRun(no_human, store=None).plan())
    assert "best human" not in aggregate(no_human, []).markdown()
    # Keeping the file's numbers (no override) keeps the entries' own.
    kept = suite.with_overrides(trials=5)
    assert [kept.repeats_of(e) for e in kept.entries] == [1, 2]


def test_a_spec_with_no_best_human_has_no_human_study_and_no_human_row(tmp_path):
    data = tiny_data()
    data["specs"][1] = {"path": data["specs"][1], "human_trials": 0}
    suite = parse_suite(data, tmp_path, "suite.yaml")
    humans = [e.spec.name for e, _, k in BenchmarkRun(suite, store=None).plan() if k < 0]
    assert humans == ["branin"]
    rosenbrock = aggregate(suite, []).markdown().split("## rosenbrock-shifted")[1].split("## ")[0]
    assert "| random |" in rosenbrock and "best human" not in rosenbrock


# -- the shipped suites ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["tiny", "default", "full"])
def test_the_shipped_suites_load_and_every_spec_they_name_parses(name):
    from agenthpo.spec import load_spec

    path = ROOT / "benchmarks" / f"{name}.yaml"
    raw = yaml.safe_load(path.read_text())
    suite = load_suite(path)
    assert suite.name == name and len(suite.entries) == len(raw["specs"])
    for item, entry in zip(raw["specs"], suite.entries, strict=True):
        item = item if isinstance(item, dict) else {"path": item}
        spec_path = path.parent / item["path"]
        assert spec_path.is_file(), spec_path
        assert load_spec(spec_path).name == entry.spec.name
        assert suite.repeats_of(entry) == item.get("repeats", raw["repeats"])
        assert suite.human_trials_of(entry) == item.get("human_trials", raw["human_trials"])
        for proposer in suite.proposers:  # every study of the suite can be derived (start, budget, seed)
            derived = suite.study_spec(entry, proposer, suite.repeats_of(entry) - 1)
            assert derived.proposer.name == proposer and derived.budget.trials == suite.trials



def test_a_suite_with_a_duplicate_key_is_refused(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text("name: dup\nspecs: [a.yaml]\nrepeats: 2\nrepeats: 3\n")
    with pytest.raises(FieldError) as error:
        load_suite(path)
    assert error.value.source == str(path) and "repeats" in str(error.value)
