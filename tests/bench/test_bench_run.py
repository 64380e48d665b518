"""Running suites: the tiny suite end to end, resuming, the pipeline engine, LLM proposers (all slow)."""

import json

import pytest
import yaml
from bench_helpers import BRANIN, TINY, per_spec_data, runs, tiny_data
from conftest import run_cli

from agenthpo.bench import BenchmarkRun, load_suite, parse_suite


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
    study_id = study.open_study(spec, store).study_id
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


# -- the pipeline engine ---------------------------------------------------------------------------------

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
    # The agent study asks first: its first answer is unusable (and the next request, an analysis, gets garbage).
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
    found = sources(store, "llmbench")
    # The agent's trial 1: the Creator's answer was unusable, so the model's pick took the slot (no repair round);
    # trial 2 is the Creator's (each side is tried once); trial 3 goes to whichever side won.
    agent = found.pop("llmbench.branin.agent.r0")
    assert agent[0] in ("tpe", "gp") and agent[1] == "llm" and agent[2] in ("llm", "tpe", "gp")
    assert found == {"llmbench.branin.llm.r0": ["llm", "llm", "llm"],
                     "llmbench.branin.random.r0": ["random", "random", "random"]}
    study_metrics = {r.data.tags["agenthpo.study"]: r.data.metrics for r in runs(store, "llmbench", "study")}
    asked = 1 + agent.count("llm")  # the trials whose proposal came with a Creator call
    assert study_metrics["llmbench.branin.agent.r0"]["llm/creator_fallback_share"] == pytest.approx(1 / asked)
    assert study_metrics["llmbench.branin.llm.r0"]["llm/tokens_total"] == pytest.approx(costs["llm"]["llm_tokens"])
    assert "llm/tokens_total" not in study_metrics["llmbench.branin.random.r0"]


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
