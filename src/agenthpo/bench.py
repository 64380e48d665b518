"""The benchmark: a suite of specs x proposers x repeats, aggregated in the AgentHPO paper's Table 3 form.

Every (spec, proposer, repeat) is its own study `<suite>.<spec>.<proposer>.r<k>`, run through the same
study steps as `tune` (in this process by default: the KFP local runner costs seconds of start-up
per step, which would make 100-trial baselines impossible). Fairness: every proposer of a repeat gets
the same spec (so the same data split), seed (suite seed + k), budget and start configuration;
`max_failed_trials` is the whole budget, so a failed trial costs one trial, as a bad guess does,
and never ends a study early. The best human is the best of `human_trials` random trials, one study
per spec with a fixed seed. A re-run skips ended studies and resumes the others (studies resume by
name), so a stopped benchmark picks up where it was. MLflow is reached only through
`agenthpo.tracking`.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from agenthpo.spec import (
    DEFAULT_TRACKING_URI,
    SpecError,
    StudySpec,
    absolute_sqlite_uri,
    int_at_least,
    load_spec,
    parse_spec,
    reject_unknown,
)
from agenthpo.study import stop_reason
from agenthpo.trial import Objective, TrialRecord, TrialState

# The paper's Table 3 reports the best result after 1, 3, 5 and 10 trials.
MARKS = (1, 3, 5, 10)
DEFAULT_HUMAN_TRIALS = 100
# The best-human baseline's seed, apart from the repeats' seeds so it is no repeat's random study.
HUMAN_SEED_OFFSET = 1000
ENGINES = ("inprocess", "pipeline")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_ENTRY_FIELDS = {"path", "start", "repeats", "human_trials"}
_FIELDS = {"name", "specs", "proposers", "repeats", "trials", "seed", "human_trials", "tracking_uri", "out"}


class SuiteError(SpecError):
    """A suite file that cannot run; the message names the field path and the bad value."""


@dataclass(frozen=True)
class SuiteEntry:
    """One spec of the suite, and what its studies share: the start configuration (None: the spec's own),
    and, for specs whose trials cost minutes, fewer repeats or best-human trials than the suite's."""

    spec: StudySpec
    path: str
    start: Mapping[str, Any] | None = None
    repeats: int | None = None
    human_trials: int | None = None


@dataclass(frozen=True)
class Suite:
    name: str
    entries: tuple[SuiteEntry, ...]
    proposers: tuple[str, ...]
    repeats: int
    trials: int
    seed: int = 0
    human_trials: int = DEFAULT_HUMAN_TRIALS
    tracking_uri: str = DEFAULT_TRACKING_URI
    out: str = ""
    source: str = ""

    @property
    def marks(self) -> tuple[int, ...]:
        return tuple(m for m in MARKS if m <= self.trials)

    def repeats_of(self, entry: SuiteEntry) -> int:
        return self.repeats if entry.repeats is None else entry.repeats

    def human_trials_of(self, entry: SuiteEntry) -> int:
        return self.human_trials if entry.human_trials is None else entry.human_trials

    def with_overrides(self, *, repeats: int | None = None, trials: int | None = None,
                       proposers: Sequence[str] | None = None, out: str | None = None,
                       tracking_uri: str | None = None, human_trials: int | None = None) -> Suite:
        """The suite with command-line overrides, checked like the file's own values."""
        # A number given on the command line applies to every spec, the entries' own numbers included.
        entries = tuple(replace(e, repeats=None if repeats is not None else e.repeats,
                                human_trials=None if human_trials is not None else e.human_trials)
                        for e in self.entries)
        changed = replace(
            self, entries=entries, repeats=self.repeats if repeats is None else repeats,
            trials=self.trials if trials is None else trials,
            proposers=self.proposers if proposers is None else tuple(proposers),
            out=self.out if out is None else out,
            human_trials=self.human_trials if human_trials is None else human_trials,
            tracking_uri=self.tracking_uri if tracking_uri is None else absolute_sqlite_uri(tracking_uri))
        _check_proposers(list(changed.proposers), lambda path, msg: SuiteError(path, msg, "command line"))
        for value, label, least in ((changed.repeats, "--repeats", 1), (changed.trials, "--trials", 1),
                                    (changed.human_trials, "--human-trials", 0)):
            int_at_least(value, least, label, lambda path, msg: SuiteError(path, msg, "command line"))
        return changed

    def study_name(self, entry: SuiteEntry, proposer: str, repeat: int) -> str:
        return f"{self.name}.{entry.spec.name}.{proposer}.r{repeat}"

    def human_name(self, entry: SuiteEntry) -> str:
        return f"{self.name}.{entry.spec.name}.human"

    def study_spec(self, entry: SuiteEntry, proposer: str, repeat: int) -> StudySpec:
        """A repeat's study: the entry's spec with the suite's budget, seed, start and tracking."""
        return self._derive(entry, self.study_name(entry, proposer, repeat), proposer, self.seed + repeat,
                            self.trials, entry.start if entry.start is not None else entry.spec.start)

    def human_spec(self, entry: SuiteEntry) -> StudySpec:
        # The human baseline does not start from the shared configuration: it is a plain random search.
        return self._derive(entry, self.human_name(entry), "random", self.seed + HUMAN_SEED_OFFSET,
                            self.human_trials_of(entry), None)

    def _derive(self, entry: SuiteEntry, name: str, proposer: str, seed: int, trials: int,
                start: Mapping[str, Any] | None) -> StudySpec:
        data = entry.spec.to_json()
        options = dict(entry.spec.proposer.options) if entry.spec.proposer.name == proposer else {}
        data.update(name=name, experiment=self.name, seed=seed, tracking_uri=self.tracking_uri,
                    budget={"trials": trials, "max_failed_trials": trials},
                    parallel=min(entry.spec.parallel, trials),
                    proposer={"name": proposer, **options}, start=None if start is None else dict(start))
        return parse_spec(data, base_dir=None, source=f"{self.source or self.name}: {entry.path}")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "specs": [{"path": e.path, "spec": e.spec.name, "start": e.start,
                                              "repeats": self.repeats_of(e), "human_trials": self.human_trials_of(e)}
                                             for e in self.entries],
                "proposers": list(self.proposers), "repeats": self.repeats, "trials": self.trials,
                "seed": self.seed, "human_trials": self.human_trials, "tracking_uri": self.tracking_uri,
                "out": self.out, "marks": list(self.marks)}


def load_suite(path: str | os.PathLike[str]) -> Suite:
    """Read and check a suite file; spec paths are taken from the suite's folder."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise SuiteError("suite", f"cannot read {str(path)!r}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SuiteError("suite", f"not valid YAML: {exc}", str(path)) from None
    return parse_suite(data, path.resolve().parent, str(path))


def parse_suite(data: Any, base_dir: Path, source: str = "") -> Suite:
    def fail(field_path: str, message: str) -> SuiteError:
        return SuiteError(field_path, message, source)

    if not isinstance(data, Mapping):
        raise fail("suite", f"expected a mapping at the top level, got {data!r}")
    reject_unknown(data, _FIELDS, "", fail)
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise fail("name", f"{name!r} must be 1-64 letters, digits, '_' or '-' (it prefixes every study's name)")
    specs = data.get("specs")
    if not isinstance(specs, list) or not specs:
        raise fail("specs", f"{specs!r} must be a non-empty list of spec paths or {{path, start}} mappings")
    entries: list[SuiteEntry] = []
    for i, item in enumerate(specs):
        where = f"specs[{i}]"
        if isinstance(item, str):
            item = {"path": item}
        if not isinstance(item, Mapping) or not isinstance(item.get("path"), str):
            raise fail(where, f"{item!r} must be a spec path or a mapping with 'path' (and optional "
                              f"{sorted(_ENTRY_FIELDS - {'path'})})")
        reject_unknown(item, _ENTRY_FIELDS, where, fail)
        spec_path = base_dir / item["path"]
        if not spec_path.is_file():
            raise fail(f"{where}.path", f"{item['path']!r} does not exist (looked for {spec_path})")
        spec = load_spec(spec_path)
        start = item.get("start")
        if start is not None and not isinstance(start, Mapping):
            raise fail(f"{where}.start", f"{start!r} must be a mapping of parameter -> value")
        if any(e.spec.name == spec.name for e in entries):
            raise fail(f"{where}.path", f"{item['path']!r}: spec name {spec.name!r} is already in the suite")
        own_repeats = item.get("repeats")
        if own_repeats is not None:
            int_at_least(own_repeats, 1, f"{where}.repeats", fail)
        own_human = item.get("human_trials")
        if own_human is not None:
            int_at_least(own_human, 0, f"{where}.human_trials", fail)
        entries.append(SuiteEntry(spec, item["path"], None if start is None else dict(start), own_repeats, own_human))
    proposers = data.get("proposers", ["agent", "llm", "tpe", "random"])
    _check_proposers(proposers, fail)
    repeats = int_at_least(data.get("repeats", 3), 1, "repeats", fail)
    trials = int_at_least(data.get("trials", max(MARKS)), 1, "trials", fail)
    seed = int_at_least(data.get("seed", 0), 0, "seed", fail)
    human_trials = int_at_least(data.get("human_trials", DEFAULT_HUMAN_TRIALS), 0, "human_trials", fail)
    tracking_uri = data.get("tracking_uri", DEFAULT_TRACKING_URI)
    out = data.get("out", f"bench-results/{name}")
    for value, label in ((tracking_uri, "tracking_uri"), (out, "out")):
        if not isinstance(value, str) or not value.strip():
            raise fail(label, f"{value!r} must be a non-empty string")
    suite = Suite(name, tuple(entries), tuple(proposers), repeats, trials, seed, human_trials,
                  absolute_sqlite_uri(tracking_uri), out, source)
    for entry in suite.entries:  # a bad start fails now, not after hours of other studies
        suite.study_spec(entry, suite.proposers[0], 0)
    return suite


def _check_proposers(proposers: Any, fail) -> None:
    from agenthpo.proposers import PROPOSERS

    if not isinstance(proposers, list | tuple) or not proposers:
        raise fail("proposers", f"{proposers!r} must be a non-empty list of {sorted(PROPOSERS)}")
    for i, proposer in enumerate(proposers):
        if proposer not in PROPOSERS:
            raise fail(f"proposers[{i}]", f"{proposer!r} is not one of {sorted(PROPOSERS)}")
    if len(set(proposers)) != len(proposers):
        raise fail("proposers", f"{list(proposers)!r} names a proposer twice")


# -- running -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StudyOutcome:
    """What the tables need from one study: its objective per trial and what it cost."""

    spec: str
    proposer: str
    repeat: int  # -1 for the best-human baseline
    objective: Objective
    values: tuple[float | None, ...]  # per counted trial in order; None where the trial failed
    trained_now: int = 0
    wall_seconds: float = 0.0
    train_seconds: float = 0.0
    llm_seconds: float = 0.0
    llm_tokens: float = 0.0

    def best_so_far(self, trial: int) -> float | None:
        finished = [v for v in self.values[:trial] if v is not None]
        return self.objective.best_of(finished) if finished else None

    def to_json(self) -> dict[str, Any]:
        return {"spec": self.spec, "proposer": self.proposer, "repeat": self.repeat, "values": list(self.values),
                "wall_seconds": self.wall_seconds, "train_seconds": self.train_seconds,
                "llm_seconds": self.llm_seconds, "llm_tokens": self.llm_tokens}


def run_study(spec: StudySpec, store, engine: str = "inprocess", workdir: Path | None = None) -> int:
    """Run or resume one study to its budget and write its report; returns how many trials it trained."""
    from agenthpo import study

    study_id = study.open_study(spec, store)["study_id"]
    before = len(store.history(study_id))
    if engine == "pipeline":
        _run_pipeline(spec, store, study_id, workdir or Path(".agenthpo"))
    else:
        while True:
            proposed = study.create_round(spec, store, study_id)
            if proposed["status"] != "proposed":
                break
            for config in proposed["configs"]:  # a round of a `parallel` spec, one after another here
                study.analyze_trial(spec, store, config, study.train_trial(spec, store, config))
    study.report_study(spec, store, study_id)
    return len(store.history(study_id)) - before


def _run_pipeline(spec: StudySpec, store, study_id: str, workdir: Path) -> None:
    """The trials as KFP local-runner iterations, like `agenthpo tune` (one subprocess per step)."""
    from agenthpo.pipelines.local import run_to_budget

    run_to_budget(spec, store, study_id, workdir.resolve(), workdir.resolve() / "logs" / f"{spec.name}.log")


def outcome(spec: StudySpec, store, study_id: str, proposer: str, repeat: int, spec_name: str,
            trained_now: int = 0) -> StudyOutcome:
    history: list[TrialRecord] = [t for t in store.history(study_id) if t.state != TrialState.INTERRUPTED]
    metrics = store.study_metrics(study_id)
    return StudyOutcome(
        spec=spec_name, proposer=proposer, repeat=repeat, objective=spec.objective,
        values=tuple(t.value if t.state == TrialState.FINISHED else None for t in history),
        trained_now=trained_now, wall_seconds=metrics.get("bench_wall_seconds", 0.0),
        train_seconds=sum(t.train_seconds or 0.0 for t in history),
        llm_seconds=metrics.get("llm_seconds_total", 0.0), llm_tokens=metrics.get("llm_tokens_total", 0.0))


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
            raise SuiteError("engine", f"{self.engine!r} is not one of {list(ENGINES)}")

    def plan(self) -> list[tuple[SuiteEntry, str, int]]:
        """Every (entry, proposer, repeat), repeat-major: a stopped run has whole repeats to compare."""
        human = [(e, "random", -1) for e in self.suite.entries if self.suite.human_trials_of(e)]
        most = max(self.suite.repeats_of(e) for e in self.suite.entries)
        return [(e, p, k) for k in range(most) for e in self.suite.entries if k < self.suite.repeats_of(e)
                for p in self.suite.proposers] + human

    def run(self) -> Results:
        benchmark_id = self.store.open_benchmark(self.suite.name, self.suite.to_json())
        for entry, proposer, repeat in self.plan():
            spec = (self.suite.human_spec(entry) if repeat < 0 else self.suite.study_spec(entry, proposer, repeat))
            done = self.store.study_done(spec.name, spec.experiment_name)
            if done is not None and not stop_reason(spec, self.store.history(done))[0]:
                done = None  # ended under a smaller budget (--trials raised since): it goes on
            if done is None:
                spec = self._with_endpoint(spec)
                started = time.perf_counter()
                trained = run_study(spec, self.store, self.engine, self.workdir)
                study_id = self.store.find_study(spec.name, spec.experiment_name)
                wall = time.perf_counter() - started
                previous = self.store.study_metrics(study_id).get("bench_wall_seconds", 0.0)
                self.store.log_metrics(study_id, {"bench_wall_seconds": previous + wall})
            else:
                study_id, trained = done, 0
            self.store.tag_study(study_id, {
                "agenthpo.benchmark": self.suite.name, "agenthpo.benchmark_run_id": benchmark_id,
                "agenthpo.benchmark.spec": entry.spec.name, "agenthpo.benchmark.repeat": str(repeat),
                "agenthpo.benchmark.seed": str(spec.seed)})
            result = outcome(spec, self.store, study_id, "human" if repeat < 0 else proposer, repeat,
                             entry.spec.name, trained)
            self.outcomes.append(result)
            self.on_study(result, done is not None)
        results = aggregate(self.suite, self.outcomes)
        out = Path(self.suite.out)
        files = results.write(out)
        self.store.write_results(benchmark_id, results.markdown(), files, results.metrics())
        return results

    def _with_endpoint(self, spec: StudySpec) -> StudySpec:
        if self.llm_endpoint is None or not spec.uses_llm or spec.llm.base_url:
            return spec
        if callable(self.llm_endpoint):
            self.llm_endpoint = self.llm_endpoint()
            if self.llm_endpoint is None:
                return spec
        return spec.with_overrides(llm_base_url=self.llm_endpoint[0], llm_model=self.llm_endpoint[1])


# -- aggregation -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    """Mean and standard deviation over repeats (population std; 0 with one repeat)."""

    mean: float
    std: float
    count: int

    @classmethod
    def of(cls, values: Sequence[float | None]) -> Cell | None:
        present = [v for v in values if v is not None]
        if not present:
            return None
        mean = sum(present) / len(present)
        return cls(mean, math.sqrt(sum((v - mean) ** 2 for v in present) / len(present)), len(present))

    def to_json(self) -> dict[str, float]:
        return {"mean": self.mean, "std": self.std, "repeats": self.count}


def improvement(value: float, random: float, objective: Objective) -> float | None:
    """Percent better than random search (positive is better for either direction); None if random is 0."""
    if abs(random) < 1e-12:
        return None
    gain = (value - random) if objective.maximize else (random - value)
    return 100.0 * gain / abs(random)


@dataclass(frozen=True)
class Results:
    suite: Suite
    outcomes: tuple[StudyOutcome, ...]
    # (spec, proposer) -> mark -> Cell; human: spec -> best value
    table: Mapping[tuple[str, str], Mapping[int, Cell | None]]
    human: Mapping[str, float | None]
    improvements: Mapping[str, Mapping[int, float | None]]  # proposer -> mark -> mean % over specs
    costs: Mapping[str, Mapping[str, float]]  # proposer -> per-study cost figures

    def _entry(self, spec: str) -> SuiteEntry:
        return next(e for e in self.suite.entries if e.spec.name == spec)

    def objective(self, spec: str) -> Objective:
        return self._entry(spec).spec.objective

    def markdown(self) -> str:
        marks = self.suite.marks
        lines = [f"# Benchmark {self.suite.name}", "",
                 f"{len(self.suite.proposers)} proposers x {self.suite.repeats} repeats (unless a spec says fewer) x "
                 f"{self.suite.trials} trials per spec; repeat k has seed {self.suite.seed}+k; best-so-far "
                 f"objective after each number of trials, mean ± std over repeats (failed trials count).", ""]
        head = "| proposer | " + " | ".join(f"trial {m}" for m in marks) + " |"
        rule = "|---|" + "---|" * len(marks)
        for entry in self.suite.entries:
            name, objective = entry.spec.name, entry.spec.objective
            lines += [f"## {name} ({objective.direction} {objective.metric}, "
                      f"{self.suite.repeats_of(entry)} repeats)", "", head, rule]
            for proposer in self.suite.proposers:
                cells = self.table.get((name, proposer), {})
                lines.append(f"| {proposer} | " + " | ".join(_cell(cells.get(m)) for m in marks) + " |")
            if self.suite.human_trials_of(entry):
                best = self.human.get(name)
                shown = "-" if best is None else f"{best:.4g}"
                lines.append(f"| best human (best of {self.suite.human_trials_of(entry)} random) | "
                             + " | ".join(shown for _ in marks) + " |")
            lines.append("")
        lines += ["## Improvement over random search (%), averaged over specs", ""]
        if "random" not in self.suite.proposers:
            lines += ["(random is not among the suite's proposers)", ""]
        else:
            lines += [head, rule]
            for proposer, by_mark in self.improvements.items():
                lines.append(f"| {proposer} | " + " | ".join(
                    "-" if by_mark.get(m) is None else f"{by_mark[m]:+.1f}" for m in marks) + " |")
            lines.append("")
        lines += ["## Cost per study (mean over studies)", "",
                  "| proposer | LLM tokens | LLM s / trial | train s | wall s | overhead (wall / (train + LLM)) |",
                  "|---|---|---|---|---|---|"]
        for proposer, cost in self.costs.items():
            overhead = cost["overhead"]
            lines.append(f"| {proposer} | {cost['llm_tokens']:.0f} | {cost['llm_seconds_per_trial']:.2f} | "
                         f"{cost['train_seconds']:.2f} | {cost['wall_seconds']:.2f} | "
                         f"{'-' if overhead is None else f'{overhead:.1f}x'} |")
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {
            "suite": self.suite.to_json(),
            "table": {f"{spec}/{proposer}": {str(m): None if c is None else c.to_json() for m, c in cells.items()}
                      for (spec, proposer), cells in self.table.items()},
            "best_human": dict(self.human),
            "improvement_over_random_pct": {p: {str(m): v for m, v in by_mark.items()}
                                            for p, by_mark in self.improvements.items()},
            "cost_per_study": {p: dict(c) for p, c in self.costs.items()},
            "studies": [o.to_json() for o in self.outcomes],
        }

    def metrics(self) -> dict[str, float]:
        """Flat numbers for the benchmark run (MLflow metrics): means at each mark and improvements."""
        flat: dict[str, float] = {}
        for (spec, proposer), cells in self.table.items():
            for mark, cell in cells.items():
                if cell is not None:
                    flat[f"{spec}.{proposer}.best_t{mark}_mean"] = cell.mean
                    flat[f"{spec}.{proposer}.best_t{mark}_std"] = cell.std
        for spec, best in self.human.items():
            if best is not None:
                flat[f"{spec}.best_human"] = best
        for proposer, by_mark in self.improvements.items():
            for mark, value in by_mark.items():
                if value is not None:
                    flat[f"{proposer}.improvement_pct_t{mark}"] = value
        return flat

    def write(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        files = [folder / "results.md", folder / "results.json"]
        files[0].write_text(self.markdown())
        files[1].write_text(json.dumps(self.to_json(), indent=2))
        for entry in self.suite.entries:
            files.append(self.plot(entry.spec.name, folder / f"trajectory_{entry.spec.name}.png"))
        return files

    def plot(self, spec: str, path: Path) -> Path:
        """Best-so-far against trial, one line per proposer (mean, band of ± one std), best human dashed."""
        from agenthpo.plots import _pyplot

        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        trials = list(range(1, self.suite.trials + 1))
        plotted: list[float] = []
        for proposer in self.suite.proposers:
            runs = [o for o in self.outcomes if o.spec == spec and o.proposer == proposer]
            cells = [Cell.of([o.best_so_far(t) for o in runs]) for t in trials]
            xs = [t for t, c in zip(trials, cells, strict=True) if c is not None]
            means = [c.mean for c in cells if c is not None]
            stds = [c.std for c in cells if c is not None]
            if not xs:
                continue
            plotted += means
            line, = ax.plot(xs, means, marker="o", markersize=3, label=proposer)
            band = list(zip(means, stds, strict=True))
            ax.fill_between(xs, [m - s for m, s in band], [m + s for m, s in band], color=line.get_color(), alpha=0.15)
        if self.human.get(spec) is not None:
            ax.axhline(self.human[spec], color="black", linestyle="--", linewidth=1,
                       label=f"best human ({self.suite.human_trials_of(self._entry(spec))} random)")
        objective = self.objective(spec)
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if self.human.get(spec) is not None:
            plotted.append(self.human[spec])
        # Values over decades (Rosenbrock): a log axis shows the progress. Judged on the means, not the
        # ± std bands, which can dip below zero.
        if plotted and min(plotted) > 0 and max(plotted) / min(plotted) > 100:
            ax.set_yscale("log")
        ax.set_xlabel("trial")
        ax.set_ylabel(f"best {objective.metric} so far ({objective.direction})")
        ax.set_title(f"{self.suite.name}: {spec}")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path


def _cell(cell: Cell | None) -> str:
    return "-" if cell is None else f"{cell.mean:.4g} ± {cell.std:.2g}"


def aggregate(suite: Suite, outcomes: Sequence[StudyOutcome]) -> Results:
    table: dict[tuple[str, str], dict[int, Cell | None]] = {}
    for entry in suite.entries:
        for proposer in suite.proposers:
            runs = [o for o in outcomes if o.spec == entry.spec.name and o.proposer == proposer]
            table[(entry.spec.name, proposer)] = {m: Cell.of([o.best_so_far(m) for o in runs]) for m in suite.marks}
    human = {}
    for entry in suite.entries:
        runs = [o for o in outcomes if o.spec == entry.spec.name and o.proposer == "human"]
        human[entry.spec.name] = runs[0].best_so_far(len(runs[0].values)) if runs else None
    improvements: dict[str, dict[int, float | None]] = {}
    if "random" in suite.proposers:
        for proposer in suite.proposers:
            by_mark: dict[int, float | None] = {}
            for mark in suite.marks:
                gains = []
                for entry in suite.entries:
                    mine, base = table[(entry.spec.name, proposer)][mark], table[(entry.spec.name, "random")][mark]
                    if mine is not None and base is not None:
                        gains.append(improvement(mine.mean, base.mean, entry.spec.objective))
                present = [g for g in gains if g is not None]
                by_mark[mark] = sum(present) / len(present) if present else None
            improvements[proposer] = by_mark
    costs: dict[str, dict[str, Any]] = {}
    for proposer in suite.proposers:
        runs = [o for o in outcomes if o.proposer == proposer]
        if not runs:
            continue
        count = len(runs)
        trials = sum(max(len(o.values), 1) for o in runs)
        busy = sum(o.train_seconds + o.llm_seconds for o in runs)
        wall = sum(o.wall_seconds for o in runs)
        costs[proposer] = {
            "studies": count, "llm_tokens": sum(o.llm_tokens for o in runs) / count,
            "llm_seconds_per_trial": sum(o.llm_seconds for o in runs) / trials,
            "train_seconds": sum(o.train_seconds for o in runs) / count, "wall_seconds": wall / count,
            # Wall time over useful time; a trial of microseconds (analytic tasks) makes this large.
            "overhead": wall / busy if busy > 0 else None,
            "orchestration_seconds_per_trial": (wall - busy) / trials,
        }
    return Results(suite, tuple(outcomes), table, human, improvements, costs)
