"""The final report, deterministic part: best trial, all trials, each hyperparameter's influence.

Influence is an estimate from the trials the study ran, not a controlled experiment: for ordered
parameters the Spearman rank correlation between the parameter and the objective (signed so that
positive means "larger values did better"), for unordered ones the share of the objective's
variance explained by the choice (eta squared). With few trials both are rough, and the report says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agenthpo.space import CategoricalParam, OrdinalParam, SearchSpace
from agenthpo.trial import Objective, TrialRecord, TrialState, best_trial, finished

MIN_TRIALS_FOR_INFLUENCE = 4


@dataclass(frozen=True)
class Influence:
    param: str
    measure: str  # "spearman" or "eta_squared"
    value: float
    strength: float  # in [0, 1], comparable across parameters

    def describe(self) -> str:
        if self.measure == "eta_squared":
            return f"choice explains {self.value:.0%} of the objective's variance"
        if abs(self.value) < 0.2:
            return f"no clear trend (rank correlation {self.value:+.2f})"
        trend = "larger values did better" if self.value > 0 else "smaller values did better"
        return f"{trend} (rank correlation {self.value:+.2f})"
# How the report step marks the LLM's final analysis (or why it was left out), so that `agenthpo report`
# can find it again in the stored report.
FINAL_HEADING = "## Final analysis (LLM)"
SET_ASIDE = "*The LLM's final analysis was set aside:"



def ranks(values: np.ndarray) -> np.ndarray:
    """0-based ranks, ties sharing their mean rank (also the surrogate's copula)."""
    order = values.argsort(kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    for v in np.unique(values):  # ties share their mean rank
        tied = values == v
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return 0.0
    return float(np.corrcoef(rx, ry)[0, 1])


def influences(space: SearchSpace, history: Sequence[TrialRecord], objective: Objective) -> list[Influence]:
    """Each parameter's estimated influence, strongest first; empty with too few finished trials."""
    done = [t for t in finished(history) if all(p.name in t.params for p in space)]
    if len(done) < MIN_TRIALS_FOR_INFLUENCE:
        return []
    # Signed so that positive always means "better objective".
    score = np.array([t.value if objective.maximize else -t.value for t in done], dtype=float)
    result = []
    for param in space:
        values = [t.params[param.name] for t in done]
        if isinstance(param, CategoricalParam) and not isinstance(param, OrdinalParam):
            groups = [score[[v == c for v in values]] for c in param.choices]
            total = float(((score - score.mean()) ** 2).sum())
            between = sum(len(g) * (g.mean() - score.mean()) ** 2 for g in groups if len(g))
            eta = float(between / total) if total > 0 else 0.0
            result.append(Influence(param.name, "eta_squared", eta, eta))
        else:
            positions = np.array([param.to_unit(v) for v in values], dtype=float)
            rho = spearman(positions, score)
            result.append(Influence(param.name, "spearman", rho, abs(rho)))
    return sorted(result, key=lambda i: -i.strength)


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def trials_table(space: SearchSpace, history: Sequence[TrialRecord], objective: Objective) -> str:
    header = ["trial", "state", "source", objective.metric] + space.names
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for t in sorted(history, key=lambda t: t.number):
        value = _format(t.value) if t.value is not None else "-"
        cells = [str(t.number), t.state.value, t.source or "-", value]
        cells += [_format(t.params.get(n, "-")) for n in space.names]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def build_report(name: str, space: SearchSpace, history: Sequence[TrialRecord], objective: Objective,
                 stop_reason: str = "") -> str:
    """The study report as markdown."""
    best = best_trial(history, objective)
    n_failed = sum(t.state == TrialState.FAILED for t in history)
    n_interrupted = sum(t.state == TrialState.INTERRUPTED for t in history)
    pruned = [t for t in history if t.state == TrialState.PRUNED]
    lines = [f"# Study `{name}`", ""]
    summary = (f"{len(finished(history))} finished, {n_failed} failed"
               + (f", {len(pruned)} pruned (stopped early, counted)" if pruned else "")
               + (f", {n_interrupted} interrupted (not counted)" if n_interrupted else "")
               + f"; objective: {objective.direction} `{objective.metric}`.")
    lines += [summary, ""]
    if stop_reason:
        lines += [f"**Stopped early:** {stop_reason}", ""]
    if best is None:
        lines += ["No trial finished, so there is no best configuration.", ""]
    else:
        lines += [f"## Best: trial {best.number}, {objective.metric} = {best.value:.6g} (source `{best.source}`)",
                  ""]
        lines += [f"- `{k}` = {_format(v)}" for k, v in best.params.items()]
        verdict = best.facts.get("verdict") if best.facts else None
        if verdict:
            advice = str(best.facts.get("advice", "")).strip().rstrip(".")
            advice = f" {advice[:1].upper()}{advice[1:]}." if advice else ""  # a sentence of its own
            lines += ["", f"Its training trajectory: {verdict}.{advice}"]
        lines.append("")
    lines += ["## Hyperparameter influence (estimate)", ""]
    found = influences(space, history, objective)
    if not found:
        lines += [f"Too few finished trials (fewer than {MIN_TRIALS_FOR_INFLUENCE}) to estimate influence.", ""]
    else:
        lines += [f"From {len(finished(history))} finished trials; rough with so few, a guide for the next "
                  "study rather than a measurement.", ""]
        lines += [f"- `{i.param}`: {i.describe()}" for i in found]
        lines.append("")
    lines += ["## All trials", "", trials_table(space, history, objective), ""]
    if pruned:
        lines += ["## Pruned", ""]
        lines += [f"- trial {t.number}: {t.pruned_reason[:300] or 'stopped early by the pruner'}" for t in pruned]
        lines.append("")
    failures = [t for t in history if t.state == TrialState.FAILED and t.error]
    if failures:
        lines += ["## Failures", ""]
        lines += [f"- trial {t.number}: {t.error.strip().splitlines()[-1][:300]}" for t in failures]
        lines.append("")
    return "\n".join(lines)


def final_section(stored: str) -> str:
    """The LLM's final analysis (heading included) or the line saying why it was set aside, from a stored
    report; '' when it has neither (no LLM, or no report written yet)."""
    for marker in (FINAL_HEADING, SET_ASIDE):
        at = stored.find(marker)
        if at >= 0:
            return stored[at:].strip()
    return ""
