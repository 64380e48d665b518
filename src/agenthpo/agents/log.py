"""The experimental log the Creator reads: the paper's L, one entry per past trial.

Each entry holds the trial's configuration (H_t), its result, where it came from and the Creator's
rationale (R_t), and the Executor's reading of its training (L_t): the trajectory facts (best step,
how far the end fell from the best, the train/validation gap, whether it was still improving) and
the Executor's advice. A failed trial says why it failed. The Creator refines from all of it.

The log is a table, one row per trial (number, source, configuration, result, the Executor's verdict or
why it failed), then notes on the latest and the best trials: the Creator's rationale and the
Executor's reading and advice. It stays bounded: past MAX_ROWS rows the older trials are summarised in
one sentence, and the texts are clipped. A 10-trial study's prompts then stay within a few thousand tokens
and a 1,000-trial study's are no longer than a 40-trial study's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agenthpo.space import SearchSpace
from agenthpo.trial import Objective, TrialRecord, TrialState

RECENT_IN_FULL = 2  # the latest trials, with notes (rationale, trajectory, advice)
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


def _meaningful(rationale: str) -> bool:
    """A rationale in the Creator's own words: not a placeholder, not one set aside by the quality check."""
    return bool(rationale) and rationale != "-" and not rationale.startswith("(")


def notes(trial: TrialRecord) -> list[str]:
    """The trial's notes: the Creator's rationale (its own trials only) and the Executor's reading and advice."""
    lines = []
    if trial.source == "llm" and _meaningful(trial.rationale):
        lines.append(f"#{trial.number} why: {clip(trial.rationale, RATIONALE_CHARS)}")
    if trial.finished:
        facts = trial.facts or {}
        reading = "; ".join(x for x in (str(facts.get("verdict", "")), trajectory(facts)) if x)
        said = advice(facts)
        if reading or said:
            lines.append(f"#{trial.number} Executor: {reading}. {clip(said, ADVICE_CHARS)}".rstrip())
    return lines


def table_row(space: SearchSpace, trial: TrialRecord, objective: Objective) -> str:
    """One line per trial: number, source, configuration, result, and the verdict or why it failed."""
    if trial.finished:
        result, verdict = fmt(trial.value), str((trial.facts or {}).get("verdict", ""))
    elif trial.state == TrialState.PRUNED:  # stopped early: its configuration lost at that step
        result, verdict = "PRUNED", clip(trial.pruned_reason or "stopped early by the pruner", ERROR_CHARS)
    else:
        first = trial.error.strip().splitlines()[0] if trial.error.strip() else "unknown error"
        result, verdict = "FAILED", clip(first, ERROR_CHARS)
    cells = [str(trial.number), trial.source or "?", *(fmt(trial.params.get(n, "?")) for n in space.names),
             result, verdict]
    return " | ".join(cells)


def experimental_log(space: SearchSpace, history: Sequence[TrialRecord], objective: Objective) -> str:
    """The log as the Creator's prompt gives it (inside its `<history>` fence): a table of every trial kept,
    then the notes on the latest and the best trials."""
    rows = [t for t in sorted(history, key=lambda t: t.number) if t.state.counts_against_budget]
    if not rows:
        return NO_TRIALS
    done = sorted((t for t in rows if t.finished), key=lambda t: t.value, reverse=objective.maximize)
    in_full = {t.number for t in done[:BEST_IN_FULL]} | {t.number for t in rows[-RECENT_IN_FULL:]}
    lines = [" | ".join(["trial", "source", *space.names, objective.metric, "Executor's verdict"])]
    if len(rows) > MAX_ROWS:
        # Keep the best few and the latest ones: what to exploit and where the study is now.
        keep = {t.number for t in done[:5]} | {t.number for t in rows[-(MAX_ROWS - 5):]}
        dropped = [t for t in rows if t.number not in keep]
        values = [t.value for t in dropped if t.finished]
        span = (f"; their {objective.metric} ranged from {fmt(min(values))} to {fmt(max(values))}" if values else "")
        failed = sum(t.state == TrialState.FAILED for t in dropped)
        pruned = sum(t.state == TrialState.PRUNED for t in dropped)
        lines.insert(0, f"({len(dropped)} older trials not listed{span}"
                        + (f"; {failed} of them failed" if failed else "")
                        + (f"; {pruned} of them were pruned" if pruned else "") + ".)")
        rows = [t for t in rows if t.number in keep]
    lines += [table_row(space, trial, objective) for trial in rows]
    detail = [line for trial in rows if trial.number in in_full for line in notes(trial)]
    if detail:
        lines += ["Notes on the latest and the best trials:", *detail]
    return "\n".join(lines)


PRIOR_PER_GENERATION = 5  # the best few of each earlier generation: enough to start from, few tokens


def prior_log(space: SearchSpace, prior: Sequence[TrialRecord], objective: Objective) -> str:
    """Earlier generations' best trials (inside the `<prior>` fence), each generation under its own heading:
    their values were measured on older data and are comparable only with each other."""
    lines = []
    for generation in sorted({t.generation for t in prior}, reverse=True):
        done = sorted((t for t in prior if t.generation == generation and t.finished), key=lambda t: t.value,
                      reverse=objective.maximize)[:PRIOR_PER_GENERATION]
        if done:
            lines += [f"generation {generation} (its best {len(done)}):",
                      " | ".join(["trial", "source", *space.names, objective.metric, "Executor's verdict"]),
                      *(table_row(space, t, objective) for t in done)]
    return "\n".join(lines)
