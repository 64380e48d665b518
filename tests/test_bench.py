"""The benchmark harness on the tiny suite (analytic functions, random and TPE: no LLM, seconds)."""

import json

import pytest
import yaml
from conftest import ROOT, run_cli

from agenthpo.bench import BenchmarkRun, StudyOutcome, SuiteError, aggregate, improvement, load_suite, parse_suite
from agenthpo.trial import Objective

TINY = ROOT / "benchmarks" / "tiny.yaml"


def tiny_data(**changes) -> dict:
    """The tiny suite with absolute spec paths, so that a copy can live in a test's folder."""
    data = yaml.safe_load(TINY.read_text())
    data["specs"] = [{**item, "path": str((TINY.parent / item["path"]).resolve())} if isinstance(item, dict)
                     else str((TINY.parent / item).resolve()) for item in data["specs"]]
    return {**data, **changes}


def runs(store, experiment: str, role: str):
    found = store.client.get_experiment_by_name(experiment)
    return store.client.search_runs([found.experiment_id], f"tags.`agenthpo.role` = '{role}'", max_results=10000)


@pytest.mark.slow
def test_tiny_suite_writes_the_table_the_plots_and_the_mlflow_records(tmp_path, sqlite_uri):
    from agenthpo.tracking import MlflowBenchmarkStore

    suite = load_suite(TINY).with_overrides(out=str(tmp_path / "out"), tracking_uri=sqlite_uri)
    store = MlflowBenchmarkStore(sqlite_uri)
    seen = []
    results = BenchmarkRun(suite, store, on_study=lambda outcome, skipped: seen.append((outcome, skipped))).run()

    assert len(seen) == 2 * 2 * 2 + 2 and not any(skipped for _, skipped in seen)
    markdown = (tmp_path / "out" / "results.md").read_text()
    for text in ("## branin (minimize value, 2 repeats)", "## rosenbrock-shifted", "| proposer | trial 1 | trial 3 |",
                 "| random |", "| tpe |", "best human (best of 10 random)", "Improvement over random search"):
        assert text in markdown
    assert "trial 5" not in markdown  # only marks within the 3-trial budget
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert set(saved["table"]) == {f"{s}/{p}" for s in ("branin", "rosenbrock-shifted") for p in ("random", "tpe")}
    assert saved["table"]["branin/tpe"]["3"]["repeats"] == 2 and saved["improvement_over_random_pct"]["random"][
        "1"] == 0.0
    for spec in ("branin", "rosenbrock-shifted"):
        assert (tmp_path / "out" / f"trajectory_{spec}.png").read_bytes()[:4] == b"\x89PNG"
    # Best-so-far never gets worse along the trials (minimize).
    cells = results.table[("branin", "tpe")]
    assert cells[3].mean <= cells[1].mean

    (benchmark,) = runs(store, "tiny", "benchmark")
    assert benchmark.info.status == "FINISHED" and benchmark.data.tags["agenthpo.benchmark"] == "tiny"
    artifacts = {a.path for a in store.client.list_artifacts(benchmark.info.run_id)}
    assert {"results.md", "results.json", "trajectory_branin.png", "suite.json"} <= artifacts
    assert "branin.tpe.best_t3_mean" in benchmark.data.metrics
    studies = runs(store, "tiny", "study")
    assert sorted(r.data.tags["agenthpo.study"] for r in studies) == sorted(
        [f"tiny.{s}.{p}.r{k}" for s in ("branin", "rosenbrock-shifted") for p in ("random", "tpe") for k in (0, 1)]
        + ["tiny.branin.human", "tiny.rosenbrock-shifted.human"])
    for run in studies:
        assert run.data.tags["agenthpo.benchmark"] == "tiny"
        assert run.data.tags["agenthpo.benchmark_run_id"] == benchmark.info.run_id
        if not run.data.tags["agenthpo.study"].endswith("human"):
            repeat = int(run.data.tags["agenthpo.benchmark.repeat"])
            assert run.data.params["seed"] == str(repeat)  # suite seed 0 + repeat: the same for every proposer
    assert len(runs(store, "tiny", "trial")) == 8 * 3 + 2 * 10
    # Fairness: every Branin study starts from the suite's start configuration.
    firsts = [o for o, _ in seen if o.spec == "branin" and o.proposer != "human"]
    assert len({o.values[0] for o in firsts}) == 1


@pytest.mark.slow
def test_a_stopped_benchmark_resumes_and_trains_only_what_is_missing(tmp_path, sqlite_uri):
    from agenthpo.tracking import MlflowBenchmarkStore

    from agenthpo import study

    suite_path = tmp_path / "suite.yaml"
    suite_path.write_text(yaml.safe_dump(tiny_data(human_trials=4, tracking_uri=sqlite_uri,
                                                   out=str(tmp_path / "out"))))
    first = run_cli("bench", suite_path, "--repeats", "1", cwd=tmp_path, timeout=300)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("trained now") == 4 + 2 and "| tpe |" in first.stdout
    store = MlflowBenchmarkStore(sqlite_uri)
    assert len(runs(store, "tiny", "trial")) == 4 * 3 + 2 * 4

    # A study of the second repeat stopped after one trial (its process was killed, say).
    suite = load_suite(suite_path)
    spec = suite.study_spec(suite.entries[0], "random", 1)
    study_id = study.open_study(spec, store)["study_id"]
    config = study.create_trial(spec, store, study_id)
    study.analyze_trial(spec, store, config, study.train_trial(spec, store, config))

    second = run_cli("bench", suite_path, cwd=tmp_path, timeout=300)
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("done before") == 4 + 2
    assert "tiny.branin.random.r1" in second.stdout and "(2 trained now)" in second.stdout
    assert len(runs(store, "tiny", "trial")) == 8 * 3 + 2 * 4  # 11 new trials: only the missing ones
    assert [t.number for t in store.history(study_id)] == [1, 2, 3]
    assert len(runs(store, "tiny", "benchmark")) == 1
    assert "trial 3" in (tmp_path / "out" / "results.md").read_text()


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
    with pytest.raises(SuiteError) as error:
        parse_suite(tiny_data(**change), tmp_path, "suite.yaml")
    assert str(error.value).startswith("suite.yaml: ") and message in str(error.value)


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


def test_improvement_over_random_is_signed_for_the_direction():
    assert improvement(5.0, 10.0, Objective("value", "minimize")) == pytest.approx(50.0)
    assert improvement(0.6, 0.5, Objective("f1", "maximize")) == pytest.approx(20.0)
    assert improvement(0.4, 0.5, Objective("f1", "maximize")) == pytest.approx(-20.0)
    assert improvement(1.0, 0.0, Objective("value", "minimize")) is None


def test_failed_trials_count_against_the_budget_in_the_table():
    suite = load_suite(TINY)
    minimize = Objective("value", "minimize")
    outcomes = [StudyOutcome("branin", "tpe", 0, minimize, (None, 4.0, 2.0)),
                StudyOutcome("branin", "tpe", 1, minimize, (6.0, 1.0, 3.0)),
                StudyOutcome("branin", "random", 0, minimize, (8.0, 8.0, 8.0))]
    results = aggregate(suite, outcomes)
    first, third = results.table[("branin", "tpe")][1], results.table[("branin", "tpe")][3]
    assert (first.mean, first.count) == (6.0, 1)  # the repeat whose first trial failed has no value yet
    assert (third.mean, third.std, third.count) == (1.5, 0.5, 2)
    assert results.improvements["tpe"][3] == pytest.approx(100 * (8.0 - 1.5) / 8.0)
    assert results.table[("rosenbrock-shifted", "tpe")][1] is None and "| tpe | - | - |" in results.markdown()
