"""The benchmark's plots, per spec: best-so-far against trial (one line per proposer), and against training time."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from agenthpo.bench.results import Cell

if TYPE_CHECKING:
    from agenthpo.bench.results import Results


def plot_trajectory(results: Results, spec: str, path: Path) -> Path:
    """Best-so-far against trial, one line per proposer (mean, band of ± one std), best human dashed."""
    from matplotlib.ticker import MaxNLocator

    from agenthpo.plots import pyplot

    suite, human = results.suite, results.human.get(spec)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    trials = list(range(1, suite.trials + 1))
    plotted: list[float] = []
    for proposer in suite.labels:
        runs = [o for o in results.outcomes if o.spec == spec and o.proposer == proposer]
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
    if human is not None:
        entry = next(e for e in suite.entries if e.spec.name == spec)
        ax.axhline(human, color="black", linestyle="--", linewidth=1,
                   label=f"best human ({suite.human_trials_of(entry)} random)")
        plotted.append(human)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    # Judged on the means, not the ± std bands, which can dip below zero.
    return _finish(plt, fig, ax, plotted, results.objective(spec), "trial", f"{suite.name}: {spec}", path)


def _finish(plt, fig, ax, plotted: list[float], objective, xlabel: str, title: str, path: Path) -> Path:
    """Axes, legend and file, the same for both plots; values over decades (Rosenbrock) get a log axis."""
    if plotted and min(plotted) > 0 and max(plotted) / min(plotted) > 100:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"best {objective.metric} so far ({objective.direction})")
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_against_time(results: Results, spec: str, path: Path) -> Path:
    """Best-so-far against training seconds summed over the trials, one step line per study, coloured by arm:
    where pruning pays off, its lines reach the same level further left."""
    from agenthpo.plots import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    plotted: list[float] = []
    for i, label in enumerate(results.suite.labels):
        for j, run in enumerate(o for o in results.outcomes if o.spec == spec and o.proposer == label):
            xs, ys, spent = [], [], 0.0
            for trial, seconds in enumerate(run.trial_seconds, 1):
                spent += seconds
                best = run.best_so_far(trial)
                if best is not None:
                    xs.append(spent)
                    ys.append(best)
            if xs:
                plotted += ys
                ax.step(xs, ys, where="post", color=colours[i % len(colours)], alpha=0.7, linewidth=1,
                        label=label if j == 0 else None)
    return _finish(plt, fig, ax, plotted, results.objective(spec), "training seconds (summed over the trials)",
                   f"{results.suite.name}: {spec}, against training time", path)
