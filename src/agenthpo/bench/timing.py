"""What a benchmark's studies cost in training time, and how soon they reached a target: the table that
compares pruners (early stopping trades trials for time, so best-after-n-trials alone would hide it).

Per spec and arm: the best after the last trial (mean ± std), the training seconds per study, the change
against the suite's first arm of the same proposer (its baseline: usually no pruner), the training seconds
until the best-so-far first reached the target, and the trials pruned per study. The target of a spec is
the mean best after the last trial of the first arm listed, so "reached" means "as good as that arm
ends on average".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agenthpo.bench.results import Cell

if TYPE_CHECKING:
    from agenthpo.bench.results import Results


def targets(results: Results) -> dict[str, float | None]:
    """Spec -> the mean best after the last trial of the suite's first arm (None without its studies)."""
    first, last = results.suite.labels[0], results.suite.trials
    found = {}
    for entry in results.suite.entries:
        runs = [o for o in results.outcomes if o.spec == entry.spec.name and o.proposer == first]
        cell = Cell.of([o.best_so_far(last) for o in runs])
        found[entry.spec.name] = None if cell is None else cell.mean
    return found


def time_table(results: Results) -> dict[str, dict[str, dict[str, Any]]]:
    """Spec -> arm -> best (Cell json), train_seconds, change_pct against its proposer's first arm,
    seconds_to_target (mean over the studies that reached it), reached, studies, pruned_per_study."""
    suite, goal = results.suite, targets(results)
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for entry in suite.entries:
        spec, rows = entry.spec.name, {}
        for label, proposer, _ in suite.arms:
            runs = [o for o in results.outcomes if o.spec == spec and o.proposer == label]
            if not runs:
                continue
            best = Cell.of([o.best_so_far(suite.trials) for o in runs])
            seconds = sum(sum(o.trial_seconds) if o.trial_seconds else o.train_seconds for o in runs) / len(runs)
            reached = [s for s in (o.seconds_to_reach(goal[spec]) for o in runs) if s is not None] \
                if goal[spec] is not None else []
            rows[label] = {"best": None if best is None else best.to_json(), "train_seconds": seconds,
                           "seconds_to_target": sum(reached) / len(reached) if reached else None,
                           "reached": len(reached), "studies": len(runs),
                           "pruned_per_study": sum(o.pruned for o in runs) / len(runs), "proposer": proposer}
        for row in rows.values():
            base = rows.get(next(arm for arm, p, _ in suite.arms if p == row["proposer"]))
            row["change_pct"] = (100.0 * (row["train_seconds"] / base["train_seconds"] - 1.0)
                                 if base and base["train_seconds"] > 0 else None)
        table[spec] = rows
    return table


def time_section(results: Results) -> list[str]:
    """The markdown section: one table per spec."""
    suite, goal = results.suite, targets(results)
    lines = ["", "## Training time and time to target (mean per study)", "",
             f"Target: the mean best after {suite.trials} trials of `{suite.labels[0]}`; time to target: training "
             f"seconds until the best-so-far first reached it (mean over the studies that did).", ""]
    for spec, rows in time_table(results).items():
        target = goal[spec]
        lines += [f"### {spec} (target {'-' if target is None else f'{target:.4g}'})", "",
                  f"| arm | best after {suite.trials} | train s | vs {suite.pruners[0].name} | time to target "
                  f"| pruned trials |",
                  "|---|---|---|---|---|---|"]
        for label, row in rows.items():
            best = "-" if row["best"] is None else f"{row['best']['mean']:.4g} ± {row['best']['std']:.2g}"
            change = "-" if row["change_pct"] is None else f"{row['change_pct']:+.0f}%"
            reach = ("never" if row["seconds_to_target"] is None
                     else f"{row['seconds_to_target']:.1f} s ({row['reached']}/{row['studies']})")
            lines.append(f"| {label} | {best} | {row['train_seconds']:.1f} | {change} | {reach} | "
                         f"{row['pruned_per_study']:.1f} |")
        lines.append("")
    return lines
