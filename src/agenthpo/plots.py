"""PNG figures for MLflow artifacts: a trial's learning curves and a study's optimisation history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from agenthpo.trial import Objective, TrialRecord, TrialState


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display in pipeline pods or CI
    import matplotlib.pyplot as plt

    return plt


def plot_curves(curves: Mapping[str, Sequence[tuple[int, float]]], path: str | Path, title: str) -> Path:
    """One panel per metric family (train_x and validation_x share a panel)."""
    plt = _pyplot()
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
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)


def plot_history(history: Sequence[TrialRecord], objective: Objective, path: str | Path, title: str) -> Path:
    """Objective per trial (failed trials marked) and the best-so-far line."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    ordered = sorted(history, key=lambda t: t.number)
    done = [t for t in ordered if t.state == TrialState.FINISHED]
    ax.scatter([t.number for t in done], [t.value for t in done], label="trial", zorder=3)
    best_x, best_y, best = [], [], None
    for t in done:
        if best is None or objective.better(t.value, best):
            best = t.value
        best_x.append(t.number)
        best_y.append(best)
    if best_x:
        ax.step(best_x, best_y, where="post", color="C1", label="best so far")
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
