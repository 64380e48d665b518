"""The trivial baseline beside the best trial: what the objective is without learning anything (always the
majority class, the mean, a random ranking), from the dataset profile. A tuned model that barely beats it
is the first thing a reader should see."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def trivial_baseline(metric: str, profile: Mapping[str, Any]) -> tuple[float, str] | None:
    """(value, how it is obtained) for the objective `metric`, or None when there is no obvious one."""
    name = metric.removeprefix("validation_").removeprefix("best_validation_")
    if name == "r2":
        return 0.0, "predicting the mean"
    if name == "auc":
        return 0.5, "a random ranking"
    shares = profile.get("class_shares") or profile.get("train_class_shares")
    if not isinstance(shares, Mapping) or not shares:
        return None
    majority = max(shares, key=lambda c: float(shares[c]))
    share = float(shares[majority])
    if name == "accuracy":
        return share, f"always class {majority}"
    if name == "f1" and len(shares) == 2:
        positive = "1" if "1" in shares else max(shares)  # the binary F1's positive class
        value = 2 * share / (1 + share) if majority == positive else 0.0
        return value, f"always class {majority}"
    return None


def objective_series(history, objective) -> list[tuple[int, float, float]]:
    """(trial number, its value, the best so far) for each finished trial in number order: the study run's
    optimisation-history chart in MLflow."""
    points, best = [], None
    for trial in sorted((t for t in history if t.finished), key=lambda t: t.number):
        if best is None or objective.better(trial.value, best):
            best = trial.value
        points.append((trial.number, float(trial.value), float(best)))
    return points
