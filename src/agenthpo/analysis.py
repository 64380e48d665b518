"""The Executor's deterministic analysis: facts about a training trajectory that a tuner reads.

From the per-step curves it finds the monitored validation curve, where it was best, how far the
final state is from the best, the train/validation gap and whether the curve was still moving,
and turns them into a verdict (overfitting, underfitting, converged, still improving).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from agenthpo.trial import Objective

# Loss-like curves, lower is better, in the order a tuner would look at them.
_LOSS_NAMES = ("loss", "logloss", "mlogloss", "rmse", "mae", "error", "merror")
# Relative changes below this are noise for the verdicts.
TOLERANCE = 0.01
# The share of steps at the end over which "still improving" is judged.
TAIL = 0.1

Curve = Sequence[tuple[int, float]]


@dataclass(frozen=True)
class CurveFacts:
    monitored: str
    lower_is_better: bool
    steps: int
    best_step: int
    best_value: float
    final_value: float
    worse_than_best: float  # relative, >= 0
    tail_improvement: float  # relative improvement over the last TAIL of steps
    train_final: float | None
    gap: float | None  # relative train/validation gap at the end, >= 0 means validation is worse
    verdict: str
    advice: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def pick_monitored(curves: Mapping[str, Curve], objective: Objective) -> tuple[str, bool] | None:
    """The validation curve to judge: a loss if there is one, else the objective metric per step."""
    for name in _LOSS_NAMES:
        if f"validation_{name}" in curves:
            return f"validation_{name}", True
    name = f"validation_{objective.metric}"
    if name in curves:
        return name, not objective.maximize
    return None


def analyze_curves(curves: Mapping[str, Curve], objective: Objective) -> CurveFacts | None:
    picked = pick_monitored(curves, objective)
    if picked is None:
        return None
    monitored, lower = picked
    points = sorted(curves[monitored])
    if not points:
        return None
    steps = [s for s, _ in points]
    values = [v for _, v in points]

    def better(a: float, b: float) -> bool:
        return a < b if lower else a > b

    best_index = 0
    for i, value in enumerate(values):
        if better(value, values[best_index]):
            best_index = i
    best, final = values[best_index], values[-1]
    worse_than_best = _relative(final - best if lower else best - final, best)

    tail_start = values[max(0, int(len(values) * (1 - TAIL)) - 1)]
    tail_improvement = _relative(tail_start - final if lower else final - tail_start, tail_start)

    train_name = "train_" + monitored.removeprefix("validation_")
    train_final = sorted(curves[train_name])[-1][1] if curves.get(train_name) else None
    gap = None
    if train_final is not None:
        gap = _relative(final - train_final if lower else train_final - final, final)

    verdict, advice = _verdict(len(values), best_index, worse_than_best, tail_improvement, gap)
    return CurveFacts(monitored, lower, steps[-1], steps[best_index], best, final, worse_than_best,
                      tail_improvement, train_final, gap, verdict, advice)


def _relative(delta: float, reference: float) -> float:
    return float(delta / abs(reference)) if reference else float(delta)


def _verdict(n: int, best_index: int, worse_than_best: float, tail_improvement: float,
             gap: float | None) -> tuple[str, str]:
    if n >= 3 and worse_than_best > TOLERANCE and best_index < n - 1:
        return ("overfitting",
                "validation got worse after its best step: stop earlier (fewer steps/rounds), lower the "
                "learning rate, or regularise more")
    if tail_improvement > TOLERANCE:
        if gap is not None and gap > 0.5:
            return ("still improving, large generalisation gap",
                    "validation was still improving but trails train by far: more steps may help a little; "
                    "regularisation will matter more")
        return ("still improving (underfitting)",
                "validation was still improving at the end: train longer, raise the learning rate or add "
                "capacity")
    if gap is not None and gap > 0.5:
        return ("converged with a large generalisation gap",
                "training fits far better than validation: regularise more or reduce capacity")
    return ("converged", "the curve has flattened: further gains must come from other hyperparameters")


def summarize(number: int, value: float | None, objective: Objective, facts: CurveFacts | None,
              error: str = "") -> str:
    """The trial note shown in the MLflow UI (markdown)."""
    if error:
        return f"**Trial {number} failed.**\n\n```\n{error[-2000:]}\n```"
    lines = [f"**Trial {number}**: {objective.metric} = {value:.6g} (validation, {objective.direction})."]
    if facts is None:
        lines.append("No per-step validation curve was reported, so there is no trajectory to analyse.")
        return "\n\n".join(lines)
    direction = "lower" if facts.lower_is_better else "higher"
    lines.append(
        f"Trajectory of `{facts.monitored}` ({direction} is better): best {facts.best_value:.6g} at step "
        f"{facts.best_step} of {facts.steps}; final {facts.final_value:.6g} "
        f"({facts.worse_than_best:.1%} worse than best); change over the last {TAIL:.0%} of steps "
        f"{facts.tail_improvement:+.1%}."
    )
    if facts.train_final is not None and facts.gap is not None:
        lines.append(f"Train at the end: {facts.train_final:.6g}; generalisation gap {facts.gap:.1%}.")
    lines.append(f"**Verdict: {facts.verdict}.** {facts.advice[0].upper()}{facts.advice[1:]}.")
    return "\n\n".join(lines)
