"""PNG figures for MLflow artifacts: a trial's learning curves, a study's optimisation history and the
hyperparameters' estimated influence."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from agenthpo.trial import Objective, TrialRecord, TrialState


def pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display in pipeline pods or CI
    import matplotlib.pyplot as plt

    return plt


def plot_curves(curves: Mapping[str, Sequence[tuple[int, float]]], path: str | Path, title: str) -> Path:
    """One panel per metric family (train_x and validation_x share a panel)."""
    plt = pyplot()
    families: dict[str, list[str]] = {}
    for name in sorted(curves):
        family = name.split("_", 1)[1] if name.startswith(("train_", "validation_", "test_")) else name
        families.setdefault(family, []).append(name)
    count = max(len(families), 1)
    fig, axes = plt.subplots(1, count, figsize=(4.5 * count, 3.4), squeeze=False)
    for ax, (family, names) in zip(axes[0], sorted(families.items()), strict=False):
        for name in names:
            steps, values = zip(*sorted(curves[name]), strict=True) if curves[name] else ((), ())
            ax.plot(steps, values, label=name.split("_", 1)[0] if name != family else name)
        ax.set_title(family)
        ax.set_xlabel("step")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    _margins(fig, 4.5 * count, 3.4, top=0.75)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)


def _margins(fig, width: float, height: float, top: float = 0.45) -> None:
    """Fixed margins in inches (tick labels, titles): `tight_layout` measures every text by drawing the
    figure once more, which made a trial's learning-curve plot cost a third of its step's own work."""
    fig.subplots_adjust(left=0.75 / width, right=1 - 0.2 / width, bottom=0.55 / height, top=1 - top / height,
                        wspace=0.95 / (width / max(len(fig.axes), 1)))


def plot_history(history: Sequence[TrialRecord], objective: Objective, path: str | Path, title: str) -> Path:
    """Objective per trial (failed trials marked) and the best-so-far line."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5 if len(history) <= 30 else 9.5, 3.8 if len(history) <= 30 else 5.0))
    ordered = sorted(history, key=lambda t: t.number)
    done = [t for t in ordered if t.state == TrialState.FINISHED]
    # One colour per proposer (agent, its fallback, warm starts, start): whose proposals did well shows at once.
    for source in sorted({t.source or "-" for t in done}):
        mine = [t for t in done if (t.source or "-") == source]
        ax.scatter([t.number for t in mine], [t.value for t in mine], label=source, zorder=3)
    best_x, best_y, best = [], [], None
    for t in done:
        if best is None or objective.better(t.value, best):
            best = t.value
        best_x.append(t.number)
        best_y.append(best)
    if best_x:
        ax.step(best_x, best_y, where="post", color="black", alpha=0.6, label="best so far")
    failed = [t.number for t in ordered if t.state == TrialState.FAILED]
    if failed and done:
        low = min(t.value for t in done)
        ax.scatter(failed, [low] * len(failed), marker="x", color="C3", label="failed", zorder=3)
    ax.set_xlabel("trial")
    ax.set_ylabel(f"{objective.metric} ({objective.direction})")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)


def plot_influence(found: Sequence, path: str | Path, title: str) -> Path:
    """One bar per hyperparameter (`agenthpo.report.Influence`, strongest first): its strength in [0, 1],
    coloured by whether larger values did better (ordered parameters) or which choice mattered (unordered)."""
    plt = pyplot()
    ordered = list(reversed(found))
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(ordered) + 1.2))
    colours = ["C2" if i.measure == "spearman" and i.value > 0 else "C3" if i.measure == "spearman" else "C0"
               for i in ordered]
    ax.barh([i.param for i in ordered], [i.strength for i in ordered], color=colours)
    ax.set_xlim(0, 1)
    ax.set_xlabel("influence: |rank corr.| (green: larger is better, red: smaller), eta² (blue)")
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)
