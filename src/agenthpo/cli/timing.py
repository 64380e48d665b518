"""Where a `tune` session's time went, and the summary printed at its end."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

from agenthpo import names
from agenthpo.messages import BestTrial, StopKind

# The session's metrics on the study run (written by the CLI only).
from agenthpo.names import (
    SESSION_LLM_SECONDS,
    SESSION_ORCHESTRATION_SECONDS,
    SESSION_TRAIN_SECONDS,
    SESSION_TRIALS,
    SESSION_WALL_SECONDS,
)
from agenthpo.spec import StudySpec


def session_timing(wall: float, history: Sequence, trained: Sequence, llm_seconds_total: float) -> dict[str, float]:
    """The session's wall time split into training, LLM calls and the rest.

    Args:
        wall: the session's wall-clock seconds.
        history: every trial of the study (TrialRecords), this session's and earlier ones.
        trained: the trials this session trained.
        llm_seconds_total: the study's LLM seconds: all trials' Creator and Executor calls and the final analysis.
    """
    def llm_seconds(trials: Sequence) -> float:
        return names.usage_total((t.metrics for t in trials), names.LLM_SECONDS)

    train_seconds = sum(t.train_seconds or 0.0 for t in trained)
    # LLM time of this session: its trials' Creator and Executor calls, and the final analysis.
    final_llm = llm_seconds_total - llm_seconds(history)
    llm = llm_seconds(trained) + max(final_llm, 0.0)
    return {SESSION_WALL_SECONDS: wall, SESSION_TRAIN_SECONDS: train_seconds, SESSION_LLM_SECONDS: llm,
            SESSION_ORCHESTRATION_SECONDS: wall - train_seconds - llm, SESSION_TRIALS: float(len(trained))}


def runs_view_url(spec: StudySpec, experiment_id: str) -> str:
    """The MLflow UI's runs view of the study's experiment, sorted by the objective, best first, in MLflow 3's
    "Model training" mode (without `workflowType` a fresh browser opens the GenAI overview, which shows no runs)."""
    from urllib.parse import quote

    base = spec.tracking_uri.rstrip("/") if spec.tracking_uri.startswith(("http://", "https://")) else \
        "http://127.0.0.1:5000"
    ascending = "true" if spec.objective.direction == "minimize" else "false"
    return (f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"
            f"&orderByKey={quote(f'metrics.`{spec.objective.metric}`')}&orderByAsc={ascending}")


def print_summary(spec: StudySpec, best: BestTrial | None, summary: Mapping[str, float], timing: Mapping[str, float],
                  kind: StopKind | None, reason: str, none_finished: bool = False, experiment_id: str = "0") -> None:
    """The end of `tune`'s output: best trial, why it stopped, time, LLM use, where to look next.
    `none_finished`: no trial of the study finished (said on stderr too: the command fails)."""
    print()
    if best is not None:
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in best.params.items())
        print(f"best: trial {best.number}  {spec.objective.metric}={best.value:.6g}\n  {params}")
    print(f"{'stopped' if kind == StopKind.FAILURES or none_finished else 'done'}: {reason}")
    llm = f"{timing[SESSION_LLM_SECONDS]:.1f}s LLM + " if timing[SESSION_LLM_SECONDS] else ""
    print(f"time: {timing[SESSION_WALL_SECONDS]:.1f}s wall for {int(timing[SESSION_TRIALS])} trials = "
          f"{timing[SESSION_TRAIN_SECONDS]:.1f}s training + {llm}{timing[SESSION_ORCHESTRATION_SECONDS]:.1f}s "
          f"orchestration (pipeline steps, MLflow, analysis)")
    if summary.get(names.TRIALS_PRUNED):
        print(f"pruned: {summary[names.TRIALS_PRUNED]:.0f} of the study's trials stopped early by its pruner "
              f"({spec.pruner.name}); see the report's Pruned section")
    if names.LLM_TOKENS_TOTAL in summary:
        print(f"LLM: {summary[names.LLM_TOKENS_TOTAL]:.0f} tokens ({summary[names.LLM_PROMPT_TOKENS_TOTAL]:.0f} "
              f"prompt + {summary[names.LLM_COMPLETION_TOKENS_TOTAL]:.0f} completion) in "
              f"{summary[names.LLM_CALLS_TOTAL]:.0f} calls, {summary[names.LLM_SECONDS_PER_TRIAL]:.1f}s per trial, "
              f"${summary[names.LLM_COST_USD]:.4f}; Creator answers repaired "
              f"{summary[names.CREATOR_REPAIRED_SHARE]:.0%}, replaced by the fallback "
              f"{summary[names.CREATOR_FALLBACK_SHARE]:.0%}")
    print(f"report: agenthpo report {spec.name} --tracking-uri {spec.tracking_uri}")
    local = not spec.tracking_uri.startswith(("http://", "https://"))
    if local:
        print(f"MLflow UI: mlflow ui --backend-store-uri {spec.tracking_uri} --port 5000, then open")
    print(f"{'  ' if local else 'MLflow UI: '}{runs_view_url(spec, experiment_id)}")
    if kind == StopKind.FAILURES:
        print(f"agenthpo: study stopped: {reason}", file=sys.stderr)
    elif none_finished:
        print(f"agenthpo: no trial of study {spec.name!r} finished, so it has no result: see the trials' "
              f"agenthpo.error tags, or run: agenthpo report {spec.name} --tracking-uri {spec.tracking_uri}",
              file=sys.stderr)
