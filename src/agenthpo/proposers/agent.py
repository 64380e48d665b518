"""The `agent` proposer (the default): the LLM Creator, hedged online against a model-based search.

Before each round the hedge (`agenthpo.proposers.hedge`) decides from the study's own results whom to
trust: the Creator or the model arm (the Gaussian-process search, `gp_search`, and TPE). The Creator is
asked only for the slots it is trusted with, so a Creator whose picks lose stops costing LLM calls as
well as trials; one whose picks win keeps being asked. The model arm's pick is TPE's (random draws at
first) until MIN_TRIALS trials have finished, then the Gaussian-process search's: its expected
improvement, searched around the best trials, beat TPE's picks on the analytic tasks with random, bounds
and near-optimal stand-in Creators (benchmarks/hedge_sim.py) and in the default suite (docs/benchmarks.md),
where TPE's first picks scored like random draws. The surrogate also orders the Creator's `llm_candidates`,
and pits TPE's candidate against the GP's, once it explains the results: its leave-one-out predictions
rank the finished trials with a correlation of at least FIT_THRESHOLD. Until then the Creator's order is
kept: a few trials on a rugged space do not make a GP that can overrule the Creator.

The arms are combined only through the one proposer interface (like Ray Tune's ConcurrencyLimiter wraps a
searcher): the Creator's candidates reach the model arm as pending (RUNNING) trials (`with_pending`), so
it avoids them. Where the Creator gave too few usable configurations, the model's pick takes the slot,
tagged `repair=fallback` with what was wrong. A refused key (`LLMAuthError`) passes through: the study
stops. Every proposal records the hedge's reason (tag `agenthpo.agent`).
"""

from __future__ import annotations

from collections.abc import Sequence

from agenthpo.generations import PriorInformed, latest_generation
from agenthpo.llm.client import LLMClient
from agenthpo.proposers.base import ProposerContext, SpaceExhausted, check_n, with_pending
from agenthpo.proposers.creator_answer import REPAIR, answer_tags, call_cost
from agenthpo.proposers.gp_search import GPProposer
from agenthpo.proposers.hedge import CREATOR, Decision, credits, decide
from agenthpo.proposers.llm import LLMProposer
from agenthpo.proposers.tpe import TPEProposer
from agenthpo.space import SearchSpace
from agenthpo.surrogate import MIN_TRIALS, expected_improvement, fit_quality
from agenthpo.trial import Objective, Proposal, TrialRecord

AGENT = "agent"  # tag: why the agent chose the proposal (the hedge's reason)
FIT_THRESHOLD = 0.3


class AgentProposer:
    name = "agent"
    uses_llm = True

    def __init__(self, objective: Objective, seed: int = 0, context: ProposerContext | None = None,
                 llm_candidates: int = 2, tpe_startup_trials: int = 5, client: LLMClient | None = None):
        if not isinstance(llm_candidates, int) or llm_candidates < 1:
            raise ValueError(f"llm_candidates={llm_candidates!r} must be an integer >= 1")
        self.objective = objective
        # No repair round: an unusable answer costs one call, and the model's pick takes the slot.
        self.llm = LLMProposer(objective, seed, context, fallback_startup_trials=tpe_startup_trials, client=client,
                               repair=False)
        self.tpe = TPEProposer(objective, seed, n_startup_trials=tpe_startup_trials)
        self.gp = GPProposer(objective, seed)
        prior = latest_generation(context.prior) if context is not None else []
        if prior:  # retuning on new data: the model side learns from the previous generation by rank only
            self.tpe, self.gp = (PriorInformed(p, prior, objective) for p in (self.tpe, self.gp))
        self.llm_candidates = llm_candidates

    def propose(self, space: SearchSpace, history: Sequence[TrialRecord], n: int) -> list[Proposal]:
        check_n(n)
        decision = decide(history, self.objective)
        credit, _ = credits(history, self.objective)
        trusted_is_creator = credit[CREATOR].value >= max(v.value for v in credit.values())
        for_creator = int(decision.arm == CREATOR) + (n - 1) * trusted_is_creator
        can_fit = sum(t.finished for t in history) >= MIN_TRIALS
        answer: list[Proposal] = []  # the Creator's answer as the `llm` proposer records it
        if for_creator:
            asked = max(for_creator, self.llm_candidates) if can_fit else for_creator
            answer = self._ask_creator(space, history, for_creator, asked)
        from_llm = [p for p in answer if p.source == "llm"]
        fit = fit_quality(space, history, self.objective)
        useful = fit is not None and fit >= FIT_THRESHOLD
        from_model = self._model_candidates(space, with_pending(history, from_llm), n, useful, can_fit)
        from_llm = (self._ranked(space, history, from_llm) if useful else from_llm)[:for_creator]
        decision = Decision(decision.arm, f"{decision.reason}; {_ordering(fit, useful)}")
        missing = for_creator - len(from_llm)
        return self._record(decision, answer, from_llm, from_model[:n - len(from_llm)], missing, for_creator)

    def _ask_creator(self, space: SearchSpace, history: Sequence[TrialRecord], n: int, asked: int
                     ) -> list[Proposal]:
        """The Creator's answer as the `llm` proposer records it (its stand-ins, `fallback`, are dropped by
        the caller: the model arm's pick replaces them)."""
        try:
            return self.llm.propose(space, history, asked)
        except SpaceExhausted:
            if asked == n:
                raise
            return self.llm.propose(space, history, n)  # fewer untried configurations than asked

    def _model_candidates(self, space: SearchSpace, history: Sequence[TrialRecord], n: int, useful: bool,
                          can_fit: bool) -> list[Proposal]:
        """The model arm's n best: TPE's and the Gaussian-process search's candidates by expected improvement
        when the surrogate is `useful`; the GP search's first once it can fit; TPE's before that."""
        candidates: list[Proposal] = []
        for proposer in (self.tpe, self.gp) if useful else (self.gp, self.tpe) if can_fit else (self.tpe,):
            try:
                candidates += [p for p in proposer.propose(space, history, n) if p.source in ("tpe", "gp")]
            except SpaceExhausted:
                continue
        candidates = _distinct(space, candidates)
        return self._ranked(space, history, candidates) if useful else candidates

    def _ranked(self, space: SearchSpace, history: Sequence[TrialRecord], candidates: list[Proposal]
                ) -> list[Proposal]:
        """Candidates by expected improvement (best first), or as given while the surrogate cannot fit."""
        if len(candidates) < 2:
            return candidates
        scores = expected_improvement(space, history, self.objective, [c.params for c in candidates])
        if scores is None:
            return candidates
        return [c for _, c in sorted(zip(scores, candidates, strict=True), key=lambda sc: -sc[0])]

    def _record(self, decision, answer: list[Proposal], from_llm: list[Proposal], from_model: list[Proposal],
                missing: int, for_creator: int) -> list[Proposal]:
        """The proposals with the hedge's reason; the Creator's call is paid by the slots it was asked for."""
        metrics, call = call_cost(answer, max(for_creator, 1)), dict(answer_tags(answer))
        chosen = []
        for i, candidate in enumerate([*from_llm, *from_model]):
            tags = {**call, **candidate.tags, AGENT: decision.reason}
            if candidate.source != "llm" and missing and i < len(from_llm) + missing:
                problems = call.get("llm_problems", "-")
                tags.update({REPAIR: "fallback", AGENT: f"{decision.reason}; the Creator's answer was unusable "
                                                        f"({problems[:300]}): the model's pick took its slot"})
            elif candidate.source != "llm":
                tags = {k: v for k, v in tags.items() if k not in (REPAIR, "llm_problems")}
            chosen.append(Proposal(candidate.params, candidate.source, candidate.rationale,
                                   metrics=metrics if candidate.source == "llm" or i < len(from_llm) + missing
                                   else {}, tags=tags))
        return chosen


def _ordering(fit: float | None, useful: bool) -> str:
    """How the candidates were ordered, for the trial's `agent` tag."""
    if useful:
        return "candidates ordered by expected improvement"
    if fit is None:
        return "in the order proposed, TPE's for the model (too few finished trials for the surrogate)"
    return (f"in the order proposed, the GP search's for the model (the surrogate does not explain the results "
            f"well enough to reorder the Creator's: leave-one-out rank correlation {fit:.2f} < {FIT_THRESHOLD})")


def _distinct(space: SearchSpace, proposals: list[Proposal]) -> list[Proposal]:
    seen, kept = set(), []
    for proposal in proposals:
        key = space.key(proposal.params)
        if key not in seen:
            seen.add(key)
            kept.append(proposal)
    return kept
