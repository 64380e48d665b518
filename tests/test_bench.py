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


# -- per-spec repeats and best-human trials ----------------------------------------------------------

def per_spec_data(**changes) -> dict:
    """The tiny suite with Branin given 1 repeat and a 3-trial best human of its own (the suite says 2 and 10)."""
    data = tiny_data(**changes)
    data["specs"][0] = {**data["specs"][0], "repeats": 1, "human_trials": 3}
    return data


@pytest.mark.parametrize("entry, message", [
    ({"repeats": 0}, "specs[0].repeats: 0 must be an integer >= 1"),
    ({"repeats": "two"}, "specs[0].repeats: 'two' must be an integer >= 1"),
    ({"human_trials": -1}, "specs[0].human_trials: -1 must be an integer >= 0"),
    ({"colour": "red"}, "specs[0].colour: unknown field (allowed: ['human_trials', 'path', 'repeats', 'start'])"),
])
def test_a_bad_suite_entry_names_the_entry_field_and_the_value(tmp_path, entry, message):
    data = tiny_data()
    data["specs"][0] = {**data["specs"][0], **entry}
    with pytest.raises(SuiteError) as error:
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


@pytest.mark.slow
def test_the_cli_runs_each_spec_for_its_own_repeats_and_repeats_overrides_them(tmp_path, sqlite_uri):
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(per_spec_data(trials=1, proposers=["random"], tracking_uri=sqlite_uri,
                                                 out=str(tmp_path / "out"))))
    done = run_cli("bench", path, "--human-trials", "0", cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "(3 studies)" in done.stdout and "tiny.branin.random.r1" not in done.stdout
    assert "tiny.rosenbrock-shifted.random.r1" in done.stdout
    assert "## branin (minimize value, 1 repeats)" in (tmp_path / "out" / "results.md").read_text()
    again = run_cli("bench", path, "--human-trials", "0", "--repeats", "2", cwd=tmp_path, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "(4 studies)" in again.stdout and again.stdout.count("done before") == 3
    assert "tiny.branin.random.r1" in again.stdout and "(1 trained now)" in again.stdout
    assert "## branin (minimize value, 2 repeats)" in (tmp_path / "out" / "results.md").read_text()


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


# -- the pipeline engine ---------------------------------------------------------------------------------

BRANIN = ROOT / "examples" / "analytic" / "branin.yaml"


@pytest.mark.slow
def test_the_pipeline_engine_runs_the_trials_as_kfp_iterations_tracked_under_the_study(tmp_path, sqlite_uri):
    from agenthpo.tracking import MlflowBenchmarkStore

    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({"name": "pipe", "specs": [str(BRANIN)], "proposers": ["random"], "repeats": 1,
                                    "trials": 2, "human_trials": 0, "tracking_uri": sqlite_uri,
                                    "out": str(tmp_path / "out")}))
    workdir = tmp_path / "work"
    done = run_cli("bench", path, "--engine", "pipeline", "--workdir", workdir, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pipe.branin.random.r0" in done.stdout and "(2 trained now)" in done.stdout
    assert "| random |" in (tmp_path / "out" / "results.md").read_text()
    assert (workdir / "logs" / "pipe.branin.random.r0.log").is_file()  # it went through the KFP local runner

    store = MlflowBenchmarkStore(sqlite_uri)
    (study_run,) = runs(store, "pipe", "study")
    assert study_run.data.tags["agenthpo.study"] == "pipe.branin.random.r0"
    assert study_run.data.tags["agenthpo.benchmark"] == "pipe" and study_run.info.status == "FINISHED"
    trials = runs(store, "pipe", "trial")
    assert len(trials) == 2 and all(t.info.status == "FINISHED" for t in trials)
    assert {t.data.tags["mlflow.parentRunId"] for t in trials} == {study_run.info.run_id}
    assert sorted(t.data.tags["agenthpo.trial"] for t in trials) == ["1", "2"]
    assert all("value" in t.data.metrics for t in trials)

    again = run_cli("bench", path, "--engine", "pipeline", "--workdir", workdir, cwd=tmp_path, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "done before" in again.stdout and "trained now" not in again.stdout
    assert len(runs(store, "pipe", "trial")) == 2 and len(runs(store, "pipe", "benchmark")) == 1


# -- the LLM proposers in a benchmark, against a scripted OpenAI-compatible server --------------------

@pytest.fixture
def scripted(monkeypatch, tmp_path):
    from scripted_llm import ScriptedLLM

    # No endpoint from the environment and no local server from another run: only what a test gives.
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("AGENTHPO_LLM_MODEL", raising=False)
    monkeypatch.setenv("AGENTHPO_HOME", str(tmp_path / "agenthpo-home"))
    with ScriptedLLM() as server:
        yield server


@pytest.fixture
def no_local_server(monkeypatch):
    """The real llama.cpp server must not start in these tests: starting it fails the test."""
    from agenthpo.llm import local_server

    def refuse(*args, **kwargs):
        raise AssertionError("the local LLM server was asked for")

    monkeypatch.setattr(local_server, "serve", refuse)
    monkeypatch.setattr(local_server, "status", refuse)
    monkeypatch.setattr(local_server, "stop", refuse)


def sources(store, experiment: str) -> dict[str, list[str]]:
    """Study name -> the proposal source of each trial, in trial order, as MLflow holds them."""
    studies = {r.info.run_id: r.data.tags["agenthpo.study"] for r in runs(store, experiment, "study")}
    found: dict[str, list[tuple[int, str]]] = {}
    for trial in runs(store, experiment, "trial"):
        found.setdefault(studies[trial.data.tags["mlflow.parentRunId"]], []).append(
            (int(trial.data.tags["agenthpo.trial"]), trial.data.tags["agenthpo.source"]))
    return {name: [source for _, source in sorted(pairs)] for name, pairs in found.items()}


@pytest.mark.slow
def test_agent_and_llm_proposers_in_a_benchmark_count_their_llm_cost(tmp_path, sqlite_uri, scripted, monkeypatch,
                                                                     no_local_server, capsys):
    from agenthpo.tracking import MlflowBenchmarkStore

    from agenthpo.cli import main

    # The endpoint as a user gives it to `agenthpo bench`: the environment (the spec names none).
    monkeypatch.setenv("OPENAI_BASE_URL", scripted.base_url)
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({"name": "llmbench", "specs": [str(BRANIN)], "proposers": ["agent", "llm", "random"],
                                    "repeats": 1, "trials": 3, "human_trials": 0, "tracking_uri": sqlite_uri,
                                    "out": str(tmp_path / "out")}))
    # The agent study asks first: its first answer and the repair are unusable, so trial 1 falls back.
    scripted.behaviours = ["malformed", "malformed"]
    assert main(["bench", str(path)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("trained now") == 3 and "LLM endpoint: local" not in printed
    assert scripted.requests and not scripted.behaviours

    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    costs = saved["cost_per_study"]
    for proposer in ("agent", "llm"):
        assert costs[proposer]["llm_tokens"] > 0 and costs[proposer]["llm_seconds_per_trial"] > 0
    assert costs["random"]["llm_tokens"] == 0 and costs["random"]["llm_seconds_per_trial"] == 0
    assert set(saved["improvement_over_random_pct"]) == {"agent", "llm", "random"}
    assert all(saved["improvement_over_random_pct"][p]["3"] is not None for p in ("agent", "llm", "random"))
    markdown = (tmp_path / "out" / "results.md").read_text()
    improvement_rows = markdown.split("## Improvement over random search")[1].split("## Cost")[0]
    for proposer in ("agent", "llm", "random"):
        assert f"| {proposer} |" in improvement_rows

    store = MlflowBenchmarkStore(sqlite_uri)
    assert sources(store, "llmbench") == {"llmbench.branin.agent.r0": ["fallback", "llm", "llm"],
                                          "llmbench.branin.llm.r0": ["llm", "llm", "llm"],
                                          "llmbench.branin.random.r0": ["random", "random", "random"]}
    study_metrics = {r.data.tags["agenthpo.study"]: r.data.metrics for r in runs(store, "llmbench", "study")}
    assert study_metrics["llmbench.branin.agent.r0"]["creator_fallback_share"] == pytest.approx(1 / 3)
    assert study_metrics["llmbench.branin.llm.r0"]["llm_tokens_total"] == pytest.approx(costs["llm"]["llm_tokens"])
    assert "llm_tokens_total" not in study_metrics["llmbench.branin.random.r0"]


@pytest.mark.slow
def test_the_llm_endpoint_is_asked_for_only_when_an_llm_study_is_to_train(tmp_path, sqlite_uri, scripted):
    from agenthpo.tracking import MlflowBenchmarkStore

    suite = parse_suite({"name": "lazy", "specs": [str(BRANIN)], "proposers": ["random", "llm", "agent"],
                         "repeats": 1, "trials": 1, "human_trials": 1, "tracking_uri": sqlite_uri,
                         "out": str(tmp_path / "out")}, tmp_path, "suite.yaml")
    store = MlflowBenchmarkStore(sqlite_uri)
    events: list[str] = []

    def endpoint():
        events.append("endpoint")
        return scripted.base_url, "scripted"

    def seen(outcome, skipped):
        events.append(f"{outcome.proposer} {'skipped' if skipped else 'trained'}")

    results = BenchmarkRun(suite, store, llm_endpoint=endpoint, on_study=seen).run()
    # Once, when the first LLM study is about to train; the random studies before it did not ask.
    assert events == ["random trained", "endpoint", "llm trained", "agent trained", "human trained"]
    assert results.costs["llm"]["llm_tokens"] > 0 and results.costs["agent"]["llm_tokens"] > 0
    assert {r["model"] for r in scripted.requests} == {"scripted"}
    asked = len(scripted.requests)

    events.clear()
    again = BenchmarkRun(suite, store, llm_endpoint=endpoint, on_study=seen).run()
    assert events == ["random skipped", "llm skipped", "agent skipped", "human skipped"]  # no endpoint asked for
    assert len(scripted.requests) == asked
    assert again.costs["llm"]["llm_tokens"] == results.costs["llm"]["llm_tokens"]  # read back from MLflow


@pytest.mark.slow
def test_a_spec_that_names_its_llm_endpoint_never_asks_for_one(tmp_path, sqlite_uri, scripted):
    from agenthpo.tracking import MlflowBenchmarkStore

    spec = yaml.safe_load(BRANIN.read_text())
    spec["llm"] = {"base_url": scripted.base_url, "model": "from-the-spec", "max_retries": 0}
    (tmp_path / "branin.yaml").write_text(yaml.safe_dump(spec))
    suite = parse_suite({"name": "own", "specs": ["branin.yaml"], "proposers": ["llm"], "repeats": 1, "trials": 1,
                         "human_trials": 0, "tracking_uri": sqlite_uri, "out": str(tmp_path / "out")},
                        tmp_path, "suite.yaml")
    asked: list[int] = []
    results = BenchmarkRun(suite, MlflowBenchmarkStore(sqlite_uri), llm_endpoint=lambda: asked.append(1)).run()
    assert asked == [] and results.costs["llm"]["llm_tokens"] > 0
    assert {r["model"] for r in scripted.requests} == {"from-the-spec"}
