"""From a Creator answer to proposals: the one place that says how an LLM's configurations are recorded.

The `llm` proposer turns every answer into proposals here, and the `agent` proposer gets its LLM
candidates from the `llm` proposer, so both record an answer the same way: source `llm` for the
Creator's own configurations and `fallback` for stand-ins (TPE's) where it gave too few; tags
`repair` (none, repaired or fallback) and `llm_problems` (what was wrong with the answer); the call's
token and time usage as `creator_*` metrics, split over the proposals that the call paid for, so
that summing over a study's trials gives the study's LLM cost. The texts are redacted before they are
clipped (`agenthpo.redact`): an endpoint that echoed the key leaves no piece of it in a tag.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

from agenthpo.agents.creator import CreatorResult
from agenthpo.agents.quality import check_text, tag_value
from agenthpo.llm.client import Usage
from agenthpo.redact import redact
from agenthpo.trial import Proposal

REPAIR = "repair"  # tag: none, repaired (a second round was needed) or fallback (the LLM gave too few)
PROBLEMS = "llm_problems"  # tag: what was wrong with the answer, '-' when nothing
QUALITY = "llm_quality"  # tag: whether the LLM's words speak about the study ('ok', or 'flagged: ...')
PROBLEMS_CHARS = 2000
REASON_CHARS = 300
NO_RATIONALE = "(no rationale given)"


def usage_metrics(usage: Usage, share: int = 1) -> dict[str, float]:
    """Creator usage as trial metrics; a call that produced `share` proposals is split between them."""
    return {k: v / share for k, v in usage.to_metrics("creator").items()}


def answer_problems(result: CreatorResult) -> str:
    """What went wrong with the answer, in one line ('' when nothing did), redacted."""
    return redact(result.error or "; ".join(result.problems))


def creator_proposals(result: CreatorResult, share: int) -> list[Proposal]:
    """The answer's usable configurations as `llm` proposals, each with its rationale; `share` is how
    many proposals the call pays for (the n it was asked for)."""
    metrics = usage_metrics(result.usage, share)
    tags = {REPAIR: "repaired" if result.repaired else "none",
            PROBLEMS: answer_problems(result)[:PROBLEMS_CHARS] or "-"}
    proposals = []
    for params, rationale in result.configs:
        rationale, quality = checked_rationale(result, params, rationale)
        proposals.append(Proposal(params, "llm", rationale, metrics=metrics, tags={**tags, QUALITY: quality}))
    return proposals


def checked_rationale(result: CreatorResult, params, rationale: str) -> tuple[str, str]:
    """(the rationale to store, its `llm_quality` tag): one that does not speak about the study (a greeting, no
    hyperparameter named, invented numbers) is replaced by a plain statement of why it was set aside."""
    if not rationale:
        return NO_RATIONALE, "ok"
    quality = check_text(rationale, names=result.names, data=result.prompt + json.dumps(dict(params)))
    if quality.ok:
        return rationale, "ok"
    return f"(the Creator's rationale was set aside: {quality.describe()[:REASON_CHARS]})", \
        tag_value({"rationale": quality})


def fallback_proposals(result: CreatorResult, fillers: Sequence[Proposal], share: int) -> list[Proposal]:
    """Stand-ins for what the answer lacked, as `fallback` proposals that say why the LLM's were missing."""
    reason = answer_problems(result) or "too few configurations"
    metrics = usage_metrics(result.usage, share)
    return [Proposal(f.params, "fallback", f"LLM answer unusable ({reason[:REASON_CHARS]}); {f.rationale}",
                     metrics=metrics, tags={REPAIR: "fallback", PROBLEMS: reason[:PROBLEMS_CHARS]})
            for f in fillers]


def call_cost(proposals: Iterable[Proposal], share: int) -> dict[str, float]:
    """The metrics of the proposals from one call, summed (the call's whole cost) and split over `share`."""
    total: dict[str, float] = {}
    for proposal in proposals:
        for key, value in proposal.metrics.items():
            total[key] = total.get(key, 0.0) + float(value)
    return {k: v / share for k, v in total.items()}


def answer_tags(proposals: Sequence[Proposal]) -> Mapping[str, str]:
    """How the answer behind proposals from one call went (`repair`, `llm_problems`): a Creator
    configuration's tags if there is one, else a fallback's (the LLM gave nothing usable)."""
    own = [p for p in proposals if p.source == "llm"] or list(proposals)
    return {k: own[0].tags[k] for k in (REPAIR, PROBLEMS) if own and k in own[0].tags}
