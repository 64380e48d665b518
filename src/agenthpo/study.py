"""The steps of a study, one function per pipeline step, each a plain call over a store.

open -> (create -> train -> analyze) x trials -> report. Every step reads what it needs from the
store (MLflow in practice, `agenthpo.tracking`), so each can run in its own process or pod. A
training crash is recorded as a FAILED trial, never raised: the study goes on.
"""

from __future__ import annotations

import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from agenthpo.analysis import analyze_curves, summarize
from agenthpo.proposers import ProposerContext, make_proposer
from agenthpo.report import build_report
from agenthpo.spec import StudySpec
from agenthpo.tasks import TrialContext, load_task, objective_value
from agenthpo.tasks.contracts import ContractReport, data_fingerprint, enforce
from agenthpo.trial import Proposal, TrialRecord, TrialState, best_trial

Curves = Mapping[str, Sequence[tuple[int, float]]]


class StudyStore(Protocol):
    """What the steps need from tracking; `agenthpo.tracking.MlflowStudyStore` implements it."""

    def open_study(self, spec: StudySpec) -> str: ...
    def history(self, study_id: str) -> list[TrialRecord]: ...
    def start_trial(self, study_id: str, number: int, proposal: Proposal) -> str: ...
    def finish_trial(self, trial_id: str, value: float, metrics: Mapping[str, float], curves: Curves,
                     train_seconds: float, plot: Path | None) -> None: ...
    def fail_trial(self, trial_id: str, error: str, curves: Curves, train_seconds: float) -> None: ...
    def curves(self, trial_id: str) -> dict[str, list[tuple[int, float]]]: ...
    def write_analysis(self, trial_id: str, facts: Mapping[str, Any], note: str) -> None: ...
    def write_report(self, study_id: str, markdown: str, plot: Path | None, summary: Mapping[str, float],
                     stopped: str) -> None: ...
    def write_profile(self, study_id: str, profile: Mapping[str, Any]) -> None: ...
    def contract_fingerprint(self, study_id: str) -> str: ...
    def write_contract(self, study_id: str, reports: Sequence[Mapping[str, Any]], fingerprint: str) -> None: ...
    def profile(self, study_id: str) -> dict[str, Any]: ...
    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None: ...


def counted(history: Sequence[TrialRecord]) -> tuple[int, int]:
    """(trials that count against the budget, failed trials); interrupted ones count for neither."""
    used = sum(t.state in (TrialState.FINISHED, TrialState.FAILED) for t in history)
    failed = sum(t.state == TrialState.FAILED for t in history)
    return used, failed


def stop_reason(spec: StudySpec, history: Sequence[TrialRecord]) -> tuple[str, str]:
    """(kind, message) saying why no further trial may start: kind is 'failures', 'budget' or ''."""
    used, failed = counted(history)
    if failed >= spec.budget.max_failed_trials:
        return "failures", (f"{failed} trials failed, reaching budget.max_failed_trials="
                            f"{spec.budget.max_failed_trials}; see the failed trials' agenthpo.error tags")
    if used >= spec.budget.trials:
        return "budget", f"budget of {spec.budget.trials} trials used"
    return "", ""


def open_study(spec: StudySpec, store: StudyStore) -> dict[str, Any]:
    """Create or resume the study; the data must pass its contract before any trial trains on it.

    Raises DataContractError (after recording the failed expectations on the study run) when the
    data breaks the task's contract.
    """
    study_id = store.open_study(spec)
    task = load_task(spec.task)
    ctx = TrialContext(spec.data, spec.task_options, seed=spec.seed)
    check_data_contract(spec, store, study_id, task, ctx)
    history = store.history(study_id)
    if not history:
        # Profiled once, for the Creator's background; a task may have no profile() (then {}).
        profile = getattr(task, "profile", None)
        if profile is not None:
            store.write_profile(study_id, profile(ctx))
    used, failed = counted(history)
    return {"study_id": study_id, "trials_used": used, "trials_failed": failed}


def check_data_contract(spec: StudySpec, store: StudyStore, study_id: str, task, ctx: TrialContext) -> None:
    """Run the task's data contract unless this very data already passed it for this study."""
    check = getattr(task, "check_data", None)
    if check is None:
        return
    fingerprint = data_fingerprint(spec)
    if store.contract_fingerprint(study_id) == fingerprint:
        return
    try:
        reports = check(ctx)
    except (OSError, ValueError) as exc:  # missing or unreadable data: a failed contract, said plainly
        reports = [ContractReport(table=str(spec.data or spec.task), checked=0, rows=0,
                                  failures=(f"cannot read the data: {exc}",))]
    store.write_contract(study_id, [r.to_json() for r in reports], fingerprint)
    enforce(spec.data or spec.task, reports)


def proposer_context(spec: StudySpec, store: StudyStore, study_id: str) -> ProposerContext:
    if not spec.uses_llm:
        return ProposerContext(study=spec.name)
    task = load_task(spec.task)
    return ProposerContext(study=spec.name, description=spec.description, model=task.description,
                           dataset=store.profile(study_id), llm=spec.llm)


def create_trial(spec: StudySpec, store: StudyStore, study_id: str) -> dict[str, Any]:
    """The Creator step of a sequential study: one configuration, or a `stop` when the budget is used."""
    proposed = create_round(spec, store, study_id, slots=1)
    return proposed["configs"][0] if proposed["status"] == "proposed" else proposed


def create_round(spec: StudySpec, store: StudyStore, study_id: str, slots: int | None = None) -> dict[str, Any]:
    """The Creator step of a round: read the history, propose up to `slots` (the spec's `parallel`)
    distinct configurations at once and open a trial run for each; fewer when less budget is left."""
    history = store.history(study_id)
    kind, reason = stop_reason(spec, history)
    if kind:
        return {"status": "stop", "stop": kind, "reason": reason, "study_id": study_id}
    slots = min(spec.parallel if slots is None else slots, spec.budget.trials - counted(history)[0])
    configs: list[dict[str, Any]] = []

    def open_trial(proposal: Proposal) -> None:
        nonlocal history
        number = max((t.number for t in history), default=0) + 1
        trial_id = store.start_trial(study_id, number, proposal)
        configs.append({"status": "proposed", "study_id": study_id, "trial_id": trial_id, "number": number,
                        **proposal.to_json()})
        # Running now: taken for the proposer (no duplicate in the round), and numbered past.
        history = [*history, TrialRecord(number=number, params=proposal.params, state=TrialState.RUNNING)]

    start = start_proposal(spec, history)
    if start is not None:
        open_trial(start)
    if len(configs) < slots:
        proposer = make_proposer(spec.proposer.name, spec.objective, spec.seed, dict(spec.proposer.options),
                                 context=proposer_context(spec, store, study_id))
        for proposal in proposer.propose(spec.space, history, slots - len(configs)):
            open_trial(proposal)
    return {"status": "proposed", "study_id": study_id, "configs": configs}


def start_proposal(spec: StudySpec, history: Sequence[TrialRecord]) -> Proposal | None:
    """The spec's `start` configuration while it has not been trained (an interrupted try does not count)."""
    if spec.start is None or any(t.source == "start" and t.state != TrialState.INTERRUPTED for t in history):
        return None
    return Proposal(dict(spec.start), "start", "the spec's start configuration: every proposer trains it first, "
                                              "so that all of them begin from the same point")


def train_trial(spec: StudySpec, store: StudyStore, config: Mapping[str, Any]) -> dict[str, Any]:
    """The Executor's training step. Any failure of the task becomes a FAILED trial, not an exception."""
    if config.get("status") != "proposed":
        return {"status": "skipped", "reason": config.get("reason", "")}
    trial_id, number = config["trial_id"], config["number"]
    ctx = TrialContext(spec.data, spec.task_options, seed=spec.seed)
    started = time.perf_counter()
    try:
        task = load_task(spec.task)
        params = spec.space.validate(config["params"])
        metrics = task.train(params, ctx)
        value = objective_value(metrics, spec.objective)
    except Exception as exc:  # a crashed trial is a recorded result
        seconds = time.perf_counter() - started
        error = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}"
        store.fail_trial(trial_id, error, ctx.curves, seconds)
        return {"status": "FAILED", "trial_id": trial_id, "number": number, "error": f"{type(exc).__name__}: {exc}",
                "train_seconds": seconds}
    seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        plot = None
        if ctx.curves:
            from agenthpo.plots import plot_curves

            plot = plot_curves(ctx.curves, Path(folder) / "learning_curves.png",
                               f"{spec.name}: trial {number}")
        store.finish_trial(trial_id, value, {**metrics, spec.objective.metric: value}, ctx.curves, seconds,
                           plot)
    return {"status": "FINISHED", "trial_id": trial_id, "number": number, "value": value,
            "train_seconds": seconds}


def analyze_trial(spec: StudySpec, store: StudyStore, config: Mapping[str, Any],
                  trained: Mapping[str, Any]) -> dict[str, Any]:
    """The Executor's analysis: facts from the recorded curves, written back as the run's note."""
    if trained.get("status") not in ("FINISHED", "FAILED"):
        return {"status": "skipped"}
    trial_id, number = config["trial_id"], config["number"]
    # The note leads with why the Creator chose this configuration, then what training showed.
    creator = f"**Creator ({config.get('source', '?')}):** {config.get('rationale') or '-'}\n\n"
    if trained["status"] == "FAILED":
        note = creator + summarize(number, None, spec.objective, None, error=trained.get("error", "unknown error"))
        store.write_analysis(trial_id, {"verdict": "failed"}, note)
        return {"status": "FAILED", "number": number, "verdict": "failed"}
    facts = analyze_curves(store.curves(trial_id), spec.objective)
    facts_json = facts.to_json() if facts else {"verdict": "no curve"}
    note = creator + summarize(number, trained["value"], spec.objective, facts)
    if spec.uses_llm:
        from agenthpo.agents.analyst import executor_summary
        from agenthpo.llm import LLMClient, LLMError

        try:
            client = LLMClient(spec.llm)
            summary, usage = executor_summary(client, number, config["params"], trained["value"],
                                              spec.objective, facts_json)
            store.log_metrics(trial_id, usage.to_metrics("executor"))
        except LLMError:
            summary = ""
        if summary:
            note += f"\n\n**Executor (LLM):** {summary}"
            facts_json = {**facts_json, "llm_summary": summary}
    store.write_analysis(trial_id, facts_json, note)
    return {"status": "FINISHED", "number": number, "verdict": facts_json["verdict"], "note": note}


def run_inprocess(spec: StudySpec, store: StudyStore, study_id: str) -> None:
    """Run the study's rounds to its budget in this process (a round's trials one after another):
    the same steps, in the same order, as the pipeline runs them in separate processes."""
    while True:
        proposed = create_round(spec, store, study_id)
        if proposed["status"] != "proposed":
            return
        for config in proposed["configs"]:
            analyze_trial(spec, store, config, train_trial(spec, store, config))


def report_study(spec: StudySpec, store: StudyStore, study_id: str) -> dict[str, Any]:
    """The final report: markdown and history plot on the study run; returns the markdown."""
    history = store.history(study_id)
    kind, reason = stop_reason(spec, history)
    stopped = reason if kind == "failures" else ""
    markdown = build_report(spec.name, spec.space, history, spec.objective, stopped)
    best = best_trial(history, spec.objective)
    used, failed = counted(history)
    summary: dict[str, float] = {
        "trials_finished": float(used - failed), "trials_failed": float(failed),
        "train_seconds_total": float(sum(t.train_seconds or 0.0 for t in history)),
    }
    if spec.uses_llm:
        analysis, final_usage = _final_analysis(spec, history)
        if analysis:
            markdown += "\n## Final analysis (LLM)\n\n" + analysis + "\n"
        summary.update(llm_totals(spec, history, final_usage))
    if best is not None:
        summary[f"best_{spec.objective.metric}"] = float(best.value)  # type: ignore[arg-type]
        summary["best_trial"] = float(best.number)
    with tempfile.TemporaryDirectory() as folder:
        plot = None
        if history:
            from agenthpo.plots import plot_history

            plot = plot_history(history, spec.objective, Path(folder) / "optimization_history.png", spec.name)
        store.write_report(study_id, markdown, plot, summary, stopped)
    return {"study_id": study_id, "markdown": markdown, "stopped": stopped, "summary": summary,
            "best": None if best is None else {"number": best.number, "value": best.value,
                                               "params": dict(best.params)}}


def _final_analysis(spec: StudySpec, history: Sequence[TrialRecord]):
    from agenthpo.agents.analyst import final_analysis
    from agenthpo.llm import LLMClient, LLMError, Usage

    try:
        return final_analysis(LLMClient(spec.llm), spec.space, history, spec.objective, spec.description)
    except LLMError:
        return "", Usage()


def llm_totals(spec: StudySpec, history: Sequence[TrialRecord], final_usage) -> dict[str, float]:
    """Token, time and cost totals of the study's LLM calls, and how often the Creator needed help."""
    def total(suffix: str) -> float:
        return sum(v for t in history for k, v in t.metrics.items() if k.endswith(suffix)
                   and k.startswith(("creator_", "executor_")))

    prompt = total("_prompt_tokens") + final_usage.prompt_tokens
    completion = total("_completion_tokens") + final_usage.completion_tokens
    seconds = total("_llm_seconds") + final_usage.seconds
    proposed = [t for t in history if t.repair]
    trials = max(len([t for t in history if t.state != TrialState.INTERRUPTED]), 1)
    return {
        **final_usage.to_metrics("final"),
        "llm_prompt_tokens_total": prompt, "llm_completion_tokens_total": completion,
        "llm_tokens_total": prompt + completion, "llm_calls_total": total("_llm_calls") + final_usage.calls,
        "llm_seconds_total": seconds, "llm_seconds_per_trial": seconds / trials,
        "llm_cost_usd": spec.llm.prices.cost(int(prompt), int(completion)),
        "creator_repaired_share": sum(t.repair == "repaired" for t in proposed) / max(len(proposed), 1),
        "creator_fallback_share": sum(t.repair == "fallback" for t in proposed) / max(len(proposed), 1),
    }
