"""The Executor's analysis step: facts from the recorded curves and a note, written back on the trial's run.

The note leads with why the configuration was chosen (the proposer's rationale and, for the agent, the
hedge's reason), then what training showed (`agenthpo.analysis`). With an LLM, the Executor's summary of
the trajectory follows, if it speaks about the study (`agenthpo.agents.quality`); otherwise it is set
aside and the deterministic text stands alone. Either way the verdict is recorded in
`agenthpo.llm_quality`, together with the Creator's rationale's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agenthpo.analysis import analyze_curves, summarize
from agenthpo.messages import Analyzed, Trained, TrialConfig
from agenthpo.trial import TrialState

if TYPE_CHECKING:
    from agenthpo.spec import StudySpec
    from agenthpo.study import StudyStore

QUALITY = "llm_quality"  # the proposal's tag and the facts' key


def _chosen(config: TrialConfig) -> str:
    proposal = config.proposal
    assert proposal is not None
    line = f"**Creator ({proposal.source}):** {proposal.rationale or '-'}\n\n"
    reason = proposal.tags.get("agent")
    return line + (f"**Agent:** {reason}\n\n" if reason else "")


def analyze_trial(spec: StudySpec, store: StudyStore, config: TrialConfig, trained: Trained) -> Analyzed:
    """The Executor's analysis: facts from the recorded curves, written back as the run's note."""
    if trained.state == TrialState.STOPPED or not config.proposed:
        return Analyzed(TrialState.STOPPED)
    assert config.proposal is not None
    trial_id, number = config.trial_id, config.number
    chosen = _chosen(config)
    if trained.state == TrialState.FAILED:
        note = chosen + summarize(number, None, spec.objective, None, error=trained.error or "unknown error")
        store.write_analysis(trial_id, {"verdict": "failed"}, note)
        return Analyzed(TrialState.FAILED, number, "failed", note)
    facts = analyze_curves(store.curves(trial_id), spec.objective)
    if trained.state == TrialState.PRUNED:  # the curve so far, no LLM call: the pruner's reason says why
        note = chosen + (f"**Trial {number} pruned** (stopped early by the pruner; counted, not failed): "
                         f"{trained.reason}.")
        facts_json = {**(facts.to_json() if facts else {}), "verdict": "pruned"}
        store.write_analysis(trial_id, facts_json, note)
        return Analyzed(TrialState.PRUNED, number, "pruned", note)
    facts_json = facts.to_json() if facts else {"verdict": "no curve"}
    note = chosen + summarize(number, trained.value, spec.objective, facts)
    if spec.uses_llm:
        said, quality = _executor_summary(spec, store, config, trained, facts_json)
        if said and quality.ok:
            note += f"\n\n**Executor (LLM):** {said}"
            facts_json = {**facts_json, "llm_summary": said}
        elif said:
            note += f"\n\n*The Executor's LLM summary was set aside: {quality.describe()}.*"
        facts_json[QUALITY] = _combined(config.proposal.tags.get(QUALITY, "ok"), quality if said else None)
    store.write_analysis(trial_id, facts_json, note)
    return Analyzed(TrialState.FINISHED, number, facts_json["verdict"], note)


def _executor_summary(spec: StudySpec, store: StudyStore, config: TrialConfig, trained: Trained, facts):
    """(the LLM's summary, its Quality); ('', ok) when the endpoint cannot be reached."""
    from agenthpo.agents.analyst import executor_summary
    from agenthpo.agents.quality import Quality
    from agenthpo.llm import LLMClient, LLMError

    try:
        client = LLMClient(spec.llm)
        said, usage, quality = executor_summary(client, config.number, config.proposal.params,  # type: ignore[union-attr]
                                                trained.value, spec.objective, facts, seed=spec.seed)
        store.log_metrics(config.trial_id, usage.to_metrics("executor"))
        return said, quality
    except LLMError:
        return "", Quality()


def _combined(rationale: str, executor) -> str:
    """One `llm_quality` value for the trial: the rationale's (set when it was proposed) and the summary's."""
    from agenthpo.agents.quality import tag_value

    parts = [rationale.removeprefix("flagged: ")] if rationale not in ("ok", "") else []
    if executor is not None and not executor.ok:
        parts.append(tag_value({"executor": executor}).removeprefix("flagged: "))
    return "flagged: " + "; ".join(parts) if parts else "ok"
