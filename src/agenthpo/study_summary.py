"""The study run's summary metrics: trials, training time, the best value, and what the LLM cost."""

from __future__ import annotations

from collections.abc import Sequence

from agenthpo import names
from agenthpo.trial import Objective, TrialRecord, TrialState, best_trial


def study_summary(objective: Objective, history: Sequence[TrialRecord], used: int, failed: int) -> dict[str, float]:
    """Counts, total training time and the best trial; `used`/`failed` as `study.counted` gives them."""
    pruned = sum(t.state == TrialState.PRUNED for t in history)
    summary = {
        names.TRIALS_FINISHED: float(used - failed - pruned), names.TRIALS_FAILED: float(failed),
        names.TRIALS_PRUNED: float(pruned),
        names.TRAIN_SECONDS_TOTAL: float(sum(t.train_seconds or 0.0 for t in history)),
    }
    best = best_trial(history, objective)
    if best is not None:
        summary[names.best_metric(objective.metric)] = float(best.value)  # type: ignore[arg-type]
        summary[names.BEST_TRIAL] = float(best.number)
    return summary


def final_analysis(spec, history: Sequence[TrialRecord]):
    """The Creator's final report text, its usage and its `Quality`; ('', no usage, ok) when the LLM cannot be
    reached."""
    from agenthpo.agents.analyst import final_analysis as ask_final_analysis
    from agenthpo.agents.quality import Quality
    from agenthpo.llm import LLMClient, LLMError, Usage

    try:
        return ask_final_analysis(LLMClient(spec.llm), spec.space, history, spec.objective, spec.description,
                                  seed=spec.seed)
    except LLMError:
        return "", Usage(), Quality()


def llm_totals(spec, history: Sequence[TrialRecord], final_usage) -> dict[str, float]:
    """Token, time and cost totals of the study's LLM calls, and how often the Creator needed help."""
    metrics = [t.metrics for t in history]
    prompt = names.usage_total(metrics, names.PROMPT_TOKENS) + final_usage.prompt_tokens
    completion = names.usage_total(metrics, names.COMPLETION_TOKENS) + final_usage.completion_tokens
    seconds = names.usage_total(metrics, names.LLM_SECONDS) + final_usage.seconds
    proposed = [t for t in history if t.repair]
    trials = max(len([t for t in history if t.state != TrialState.INTERRUPTED]), 1)
    return {
        **final_usage.to_metrics("final"),
        names.LLM_PROMPT_TOKENS_TOTAL: prompt, names.LLM_COMPLETION_TOKENS_TOTAL: completion,
        names.LLM_TOKENS_TOTAL: prompt + completion,
        names.LLM_CALLS_TOTAL: names.usage_total(metrics, names.LLM_CALLS) + final_usage.calls,
        names.LLM_SECONDS_TOTAL: seconds, names.LLM_SECONDS_PER_TRIAL: seconds / trials,
        names.LLM_COST_USD: spec.llm.prices.cost(int(prompt), int(completion)),
        names.CREATOR_REPAIRED_SHARE: sum(t.repair == "repaired" for t in proposed) / max(len(proposed), 1),
        names.CREATOR_FALLBACK_SHARE: sum(t.repair == "fallback" for t in proposed) / max(len(proposed), 1),
    }
