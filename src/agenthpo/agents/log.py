"""The experimental log the Creator reads: the paper's L, one entry per past trial.

Each entry holds the trial's configuration (H_t), its result, where it came from and the Creator's
rationale (R_t), and the Executor's reading of its training (L_t): the trajectory facts (best step,
how far the end fell from the best, the train/validation gap, whether it was still improving) and
the Executor's advice. A failed trial says why it failed. The Creator refines from all of it.

The log stays bounded: the most recent trials and the best one are written in full, older ones on one
line each (configuration, result, verdict), and past MAX_ROWS lines the rest are summarised in one
sentence; the texts are clipped. A 10-trial study's prompts then stay within a few thousand tokens
and a 1,000-trial study's are no longer than a 40-trial study's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agenthpo.space import SearchSpace
from agenthpo.trial import Objective, TrialRecord, TrialState

RECENT_IN_FULL = 2  # the latest trials, written with rationale, trajectory and advice
BEST_IN_FULL = 1  # and the best ones
MAX_ROWS = 30  # lines of the log; older trials beyond them are summarised
RATIONALE_CHARS = 100
ADVICE_CHARS = 120
ERROR_CHARS = 100
NO_TRIALS = "No trials yet: this is the first proposal."


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def clip(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3].rstrip() + "..."


def _config(space: SearchSpace, trial: TrialRecord) -> str:
    return ", ".join(f"{name}={fmt(trial.params.get(name, '?'))}" for name in space.names)


def _result(trial: TrialRecord, objective: Objective) -> str:
    if trial.finished:
        return f"{objective.metric}={fmt(trial.value)}"
    first = trial.error.strip().splitlines()[0] if trial.error.strip() else "unknown error"
    return f"FAILED ({clip(first, ERROR_CHARS)})"


def trajectory(facts: Mapping[str, Any]) -> str:
    """The Executor's trajectory facts in one clause; '' when the trial reported no curve."""
    if "best_step" not in facts:
        return ""
    parts = [f"{facts.get('monitored', 'validation')} best at step {facts['best_step']}/{facts.get('steps', '?')}"]
    if facts.get("worse_than_best"):
        parts.append(f"end {float(facts['worse_than_best']):.1%} below best")
    if facts.get("gap") is not None:
        parts.append(f"train gap {float(facts['gap']):.1%}")
    if facts.get("tail_improvement"):
        parts.append(f"last 10% {float(facts['tail_improvement']):+.1%}")
    return ", ".join(parts)


def advice(facts: Mapping[str, Any]) -> str:
    """What the Executor advised: its LLM summary when that passed the quality check, else the rule's advice."""
    return str(facts.get("llm_summary") or facts.get("advice") or "")


def full_entry(space: SearchSpace, trial: TrialRecord, objective: Objective) -> str:
    lines = [f"#{trial.number} ({trial.source or '?'}) {_config(space, trial)}: {_result(trial, objective)}"]
    if trial.rationale and trial.rationale != "-":
        lines.append(f"  Why: {clip(trial.rationale, RATIONALE_CHARS)}")
    if trial.finished:
        facts = trial.facts or {}
        reading = "; ".join(x for x in (str(facts.get("verdict", "")), trajectory(facts)) if x)
        said = advice(facts)
        if reading or said:
            lines.append(f"  Executor: {reading}. {clip(said, ADVICE_CHARS)}".rstrip())
    return "\n".join(lines)


def short_entry(space: SearchSpace, trial: TrialRecord, objective: Objective) -> str:
    verdict = (trial.facts or {}).get("verdict", "") if trial.finished else ""
    return (f"#{trial.number} ({trial.source or '?'}) {_config(space, trial)}: {_result(trial, objective)}"
            + (f" [{verdict}]" if verdict else ""))


def experimental_log(space: SearchSpace, history: Sequence[TrialRecord], objective: Objective) -> str:
    """The log as the Creator's prompt gives it (inside its `<history>` fence)."""
    rows = [t for t in sorted(history, key=lambda t: t.number) if t.state in (TrialState.FINISHED, TrialState.FAILED)]
    if not rows:
        return NO_TRIALS
    done = sorted((t for t in rows if t.finished), key=lambda t: t.value, reverse=objective.maximize)
    best = {t.number for t in done[:BEST_IN_FULL]}
    in_full = best | {t.number for t in rows[-RECENT_IN_FULL:]}
    lines = []
    if len(rows) > MAX_ROWS:
        # Keep the best few and the latest ones: what to exploit and where the study is now.
        keep = {t.number for t in done[:5]} | {t.number for t in rows[-(MAX_ROWS - 5):]}
        dropped = [t for t in rows if t.number not in keep]
        values = [t.value for t in dropped if t.finished]
        span = (f"; their {objective.metric} ranged from {fmt(min(values))} to {fmt(max(values))}" if values else "")
        failed = sum(not t.finished for t in dropped)
        lines.append(f"({len(dropped)} older trials not listed{span}"
                     + (f"; {failed} of them failed" if failed else "") + ".)")
        rows = [t for t in rows if t.number in keep]
    for trial in rows:
        entry = full_entry if trial.number in in_full else short_entry
        lines.append(entry(space, trial, objective))
    return "\n".join(lines)
