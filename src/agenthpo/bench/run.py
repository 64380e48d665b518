"""Running a suite: every (spec, proposer, repeat) as its own study, resumed by name, then aggregated.

A study runs through the same steps as `tune`: in this process by default (`study.run_inprocess`;
the KFP local runner costs seconds of start-up per step, which would make 100-trial baselines
impossible), or as KFP local-runner iterations with engine `pipeline`.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agenthpo import names, study
from agenthpo.bench.results import Results, aggregate
from agenthpo.bench.suite import Suite, SuiteEntry
from agenthpo.errors import FieldError
from agenthpo.spec import StudySpec
from agenthpo.trial import Objective, TrialRecord, TrialState

ENGINES = ("inprocess", "pipeline")


@dataclass(frozen=True)
class StudyOutcome:
    """What the tables need from one study: its objective per trial and what it cost."""

    spec: str
    proposer: str  # the arm's label: the proposer, with its pruner after a '-' (`tpe-median`), or 'human'
    repeat: int  # -1 for the best-human baseline
    objective: Objective
    values: tuple[float | None, ...]  # per counted trial in order; None where the trial failed or was pruned
    trained_now: int = 0
    pruned: int = 0
    trial_seconds: tuple[float, ...] = ()  # each counted trial's training seconds, in order
    wall_seconds: float = 0.0
    train_seconds: float = 0.0
    llm_seconds: float = 0.0
    llm_tokens: float = 0.0

    def best_so_far(self, trial: int) -> float | None:
        finished = [v for v in self.values[:trial] if v is not None]
        return self.objective.best_of(finished) if finished else None

    def seconds_to_reach(self, target: float) -> float | None:
        """Training seconds summed over the trials up to the first whose value is at least as good as
        `target`; None when none is."""
        spent = 0.0
        for value, seconds in zip(self.values, self.trial_seconds, strict=False):
            spent += seconds
            if value is not None and not self.objective.better(target, value):
                return spent
        return None

    def to_json(self) -> dict[str, Any]:
        return {"spec": self.spec, "proposer": self.proposer, "repeat": self.repeat, "values": list(self.values),
                "pruned": self.pruned, "trial_seconds": list(self.trial_seconds),
                "wall_seconds": self.wall_seconds, "train_seconds": self.train_seconds,
                "llm_seconds": self.llm_seconds, "llm_tokens": self.llm_tokens}


def run_study(spec: StudySpec, store, engine: str = "inprocess", workdir: Path | None = None) -> int:
    """Run or resume one study to its budget and write its report; returns how many trials it trained."""
    study_id = study.open_study(spec, store).study_id
    before = len(store.history(study_id))
    if engine == "pipeline":
        _run_pipeline(spec, store, study_id, workdir or Path(".agenthpo"))
    else:
        study.run_inprocess(spec, store, study_id)
    study.report_study(spec, store, study_id)
    return len(store.history(study_id)) - before


def _run_pipeline(spec: StudySpec, store, study_id: str, workdir: Path) -> None:
    """The trials as KFP local-runner iterations, like `agenthpo tune` (one subprocess per step)."""
    from agenthpo.pipelines.local import run_to_budget

    run_to_budget(spec, store, study_id, workdir.resolve(), workdir.resolve() / "logs" / f"{spec.name}.log")


def outcome(spec: StudySpec, store, study_id: str, proposer: str, repeat: int, spec_name: str,
            trained_now: int = 0) -> StudyOutcome:
    history: list[TrialRecord] = [t for t in store.history(study_id) if t.state.counts_against_budget]
    metrics = store.study_metrics(study_id)
    return StudyOutcome(
        spec=spec_name, proposer=proposer, repeat=repeat, objective=spec.objective,
        values=tuple(t.value if t.state == TrialState.FINISHED else None for t in history),
        trained_now=trained_now, pruned=sum(t.state == TrialState.PRUNED for t in history),
        trial_seconds=tuple(t.train_seconds or 0.0 for t in history),
        wall_seconds=metrics.get(names.BENCH_WALL_SECONDS, 0.0),
        train_seconds=sum(t.train_seconds or 0.0 for t in history),
        llm_seconds=metrics.get(names.LLM_SECONDS_TOTAL, 0.0), llm_tokens=metrics.get(names.LLM_TOKENS_TOTAL, 0.0))


def import_ahead(task: str) -> None:
    """Import the plug-in's heavy modules (`warm_imports`, `late_imports`) before any of its trials is timed.
    In one process only the first study to train would pay them (torch and PyG: 5-8 s against Cora's 1-6 s
    trials), which is whichever arm the plan puts first, not a cost of that arm."""
    from agenthpo.tasks import load_task

    plugin = load_task(task)
    for module in (*getattr(plugin, "warm_imports", ()), *getattr(plugin, "late_imports", ())):
        importlib.import_module(module)


@dataclass
class BenchmarkRun:
    """Runs a suite; `on_study(outcome, skipped)` is called as each study ends (the CLI prints it)."""

    suite: Suite
    store: Any  # agenthpo.tracking.MlflowBenchmarkStore
    engine: str = "inprocess"
    workdir: Path = Path(".agenthpo")
    # An LLM endpoint for LLM studies whose spec names none: (base_url, model), or a function that gives
    # one (or None), called only once a study that needs it is to train, so a finished benchmark
    # starts no LLM server.
    llm_endpoint: tuple[str, str] | Callable[[], tuple[str, str] | None] | None = None
    on_study: Callable[[StudyOutcome, bool], None] = lambda outcome, skipped: None
    outcomes: list[StudyOutcome] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise FieldError("engine", f"{self.engine!r} is not one of {list(ENGINES)}")

    def plan(self) -> list[tuple[SuiteEntry, str, int]]:
        """Every (entry, arm label, repeat), repeat-major: a stopped run has whole repeats to compare."""
        human = [(e, "random", -1) for e in self.suite.entries if self.suite.human_trials_of(e)]
        most = max(self.suite.repeats_of(e) for e in self.suite.entries)
        return [(e, label, k) for k in range(most) for e in self.suite.entries if k < self.suite.repeats_of(e)
                for label in self.suite.labels] + human

    def run(self) -> Results:
        benchmark_id = self.store.open_benchmark(self.suite.name, self.suite.to_json())
        for entry, proposer, repeat in self.plan():
            spec = (self.suite.human_spec(entry) if repeat < 0 else self.suite.study_spec(entry, proposer, repeat))
            done = self.store.study_done(spec.name, spec.experiment_name)
            if done is not None and study.stop_reason(spec, study.current_trials(self.store, done))[0] is None:
                done = None  # ended under a smaller budget (--trials raised since): it goes on
            if done is None:
                study_id, trained = self._train(spec)
            else:
                study_id, trained = done, 0
            self.store.tag_study(study_id, {
                names.BENCHMARK: self.suite.name, names.BENCHMARK_RUN_ID: benchmark_id,
                names.BENCHMARK_SPEC: entry.spec.name, names.BENCHMARK_REPEAT: str(repeat),
                names.BENCHMARK_SEED: str(spec.seed)})
            result = outcome(spec, self.store, study_id, "human" if repeat < 0 else proposer, repeat,
                             entry.spec.name, trained)
            self.outcomes.append(result)
            self.on_study(result, done is not None)
        results = aggregate(self.suite, self.outcomes)
        files = results.write(Path(self.suite.out))
        self.store.write_results(benchmark_id, results.markdown(), files, results.metrics())
        return results

    def _train(self, spec: StudySpec) -> tuple[str, int]:
        """Run (or resume) the study; its wall time adds to what earlier runs of it took. (study id, trained)"""
        spec = self._with_endpoint(spec)
        if self.engine == "inprocess":
            import_ahead(spec.task)
        started = time.perf_counter()
        trained = run_study(spec, self.store, self.engine, self.workdir)
        study_id = self.store.find_study(spec.name, spec.experiment_name)
        wall = time.perf_counter() - started
        previous = self.store.study_metrics(study_id).get(names.BENCH_WALL_SECONDS, 0.0)
        self.store.log_metrics(study_id, {names.BENCH_WALL_SECONDS: previous + wall})
        return study_id, trained

    def _with_endpoint(self, spec: StudySpec) -> StudySpec:
        if self.llm_endpoint is None or not spec.uses_llm or spec.llm.base_url:
            return spec
        if callable(self.llm_endpoint):
            self.llm_endpoint = self.llm_endpoint()
            if self.llm_endpoint is None:
                return spec
        return spec.with_overrides(llm_base_url=self.llm_endpoint[0], llm_model=self.llm_endpoint[1])
