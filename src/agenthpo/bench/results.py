"""A benchmark's results in the AgentHPO paper's Table 3 form: best-so-far after 1, 3, 5 and 10
trials (mean ± std over repeats), improvement over random search, cost per study; written as
results.md, results.json and one trajectory plot per spec."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agenthpo.bench.suite import Suite, SuiteEntry
from agenthpo.trial import Objective

if TYPE_CHECKING:
    from agenthpo.bench.run import StudyOutcome


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
                 f"{len(self.suite.labels)} proposers x {self.suite.repeats} repeats (unless a spec says fewer) x "
                 f"{self.suite.trials} trials per spec; repeat k has seed {self.suite.seed}+k; best-so-far "
                 f"objective after each number of trials, mean ± std over repeats (failed trials count).", ""]
        head = "| proposer | " + " | ".join(f"trial {m}" for m in marks) + " |"
        rule = "|---|" + "---|" * len(marks)
        for entry in self.suite.entries:
            name, objective = entry.spec.name, entry.spec.objective
            lines += [f"## {name} ({objective.direction} {objective.metric}, "
                      f"{self.suite.repeats_of(entry)} repeats)", "", head, rule]
            for proposer in self.suite.labels:
                cells = self.table.get((name, proposer), {})
                lines.append(f"| {proposer} | " + " | ".join(_cell(cells.get(m)) for m in marks) + " |")
            if self.suite.human_trials_of(entry):
                best = self.human.get(name)
                shown = "-" if best is None else f"{best:.4g}"
                lines.append(f"| best human (best of {self.suite.human_trials_of(entry)} random) | "
                             + " | ".join(shown for _ in marks) + " |")
            lines.append("")
        lines += ["## Improvement over random search (%), averaged over specs", ""]
        if "random" not in self.suite.labels:
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
        from agenthpo.bench.timing import time_section

        return "\n".join(lines + time_section(self)) + "\n"

    def to_json(self) -> dict[str, Any]:
        from agenthpo.bench.timing import time_table

        return {
            "suite": self.suite.to_json(),
            "table": {f"{spec}/{proposer}": {str(m): None if c is None else c.to_json() for m, c in cells.items()}
                      for (spec, proposer), cells in self.table.items()},
            "best_human": dict(self.human),
            "improvement_over_random_pct": {p: {str(m): v for m, v in by_mark.items()}
                                            for p, by_mark in self.improvements.items()},
            "cost_per_study": {p: dict(c) for p, c in self.costs.items()},
            "training_time": time_table(self),
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
        """results.md, results.json and trajectory_<spec>.png in `folder`; returns the files."""
        folder.mkdir(parents=True, exist_ok=True)
        files = [folder / "results.md", folder / "results.json"]
        files[0].write_text(self.markdown())
        files[1].write_text(json.dumps(self.to_json(), indent=2))
        from agenthpo.bench.plots import plot_against_time

        for entry in self.suite.entries:
            files.append(self.plot(entry.spec.name, folder / f"trajectory_{entry.spec.name}.png"))
            files.append(plot_against_time(self, entry.spec.name, folder / f"time_{entry.spec.name}.png"))
        return files

    def plot(self, spec: str, path: Path) -> Path:
        """Best-so-far against trial for one spec (see `agenthpo.bench.plots`)."""
        from agenthpo.bench.plots import plot_trajectory

        return plot_trajectory(self, spec, path)


def _cell(cell: Cell | None) -> str:
    return "-" if cell is None else f"{cell.mean:.4g} ± {cell.std:.2g}"


def aggregate(suite: Suite, outcomes: Sequence[StudyOutcome]) -> Results:
    table: dict[tuple[str, str], dict[int, Cell | None]] = {}
    for entry in suite.entries:
        for proposer in suite.labels:
            runs = [o for o in outcomes if o.spec == entry.spec.name and o.proposer == proposer]
            table[(entry.spec.name, proposer)] = {m: Cell.of([o.best_so_far(m) for o in runs]) for m in suite.marks}
    human = {}
    for entry in suite.entries:
        runs = [o for o in outcomes if o.spec == entry.spec.name and o.proposer == "human"]
        human[entry.spec.name] = runs[0].best_so_far(len(runs[0].values)) if runs else None
    improvements = _improvements(suite, table) if "random" in suite.labels else {}
    return Results(suite, tuple(outcomes), table, human, improvements, _costs(suite, outcomes))


def _improvements(suite: Suite, table: Mapping[tuple[str, str], Mapping[int, Cell | None]]
                  ) -> dict[str, dict[int, float | None]]:
    """Proposer -> mark -> the mean over specs of its % improvement over random search."""
    improvements: dict[str, dict[int, float | None]] = {}
    for proposer in suite.labels:
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
    return improvements


def _costs(suite: Suite, outcomes: Sequence[StudyOutcome]) -> dict[str, dict[str, Any]]:
    """Proposer -> what one of its studies cost on average (LLM tokens and seconds, train and wall time)."""
    costs: dict[str, dict[str, Any]] = {}
    for proposer in suite.labels:
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
    return costs
