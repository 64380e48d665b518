"""The `agent` proposer (the default): the LLM Creator with a model-based safeguard.

Each round the Creator proposes a few candidates (`llm_candidates`, at least one per slot) and
Optuna's TPE proposes one per slot. Until a few trials have finished, the LLM's candidates are taken
in the order it gave them: that is where a good prior pays (the paper's big gains at trial 1). After
that a Gaussian-process surrogate fitted on the finished trials scores every candidate by expected
improvement and the best ones are trained, whichever proposer they came from. So a weak LLM loses to
TPE on the surrogate's judgement and costs little, a strong one keeps its lead, and a stalled LLM is
overtaken by TPE.

The two are combined only through the one proposer interface (like Ray Tune's ConcurrencyLimiter
wraps a searcher): the `llm` proposer's candidates reach TPE as pending (RUNNING) trials appended to
the history, so TPE avoids them. Where the LLM gave too few, the `llm` proposer's own fallback has
filled in, recorded as such. A refused key (`LLMAuthError`) passes through both: the study stops.
"""

from __future__ import annotations

from collections.abc import Sequence

from agenthpo.llm.client import LLMClient
from agenthpo.proposers.base import ProposerContext, SpaceExhausted, check_n, with_pending
from agenthpo.proposers.creator_answer import REPAIR, answer_tags, call_cost
from agenthpo.proposers.llm import LLMProposer
from agenthpo.proposers.tpe import TPEProposer
from agenthpo.space import SearchSpace
from agenthpo.surrogate import MIN_TRIALS, expected_improvement
from agenthpo.trial import Objective, Proposal, TrialRecord

AGENT = "agent"  # tag: why the agent chose the proposal (its verdict)
IN_ORDER = "taken in the Creator's order (too few finished trials for the surrogate)"


class AgentProposer:
    name = "agent"
    uses_llm = True

    def __init__(self, objective: Objective, seed: int = 0, context: ProposerContext | None = None,
                 llm_candidates: int = 2, tpe_startup_trials: int = 5, client: LLMClient | None = None):
        if not isinstance(llm_candidates, int) or llm_candidates < 1:
            raise ValueError(f"llm_candidates={llm_candidates!r} must be an integer >= 1")
        self.objective = objective
        self.llm = LLMProposer(objective, seed, context, fallback_startup_trials=tpe_startup_trials, client=client)
        self.tpe = TPEProposer(objective, seed, n_startup_trials=tpe_startup_trials)
        self.llm_candidates = llm_candidates

    def propose(self, space: SearchSpace, history: Sequence[TrialRecord], n: int) -> list[Proposal]:
        check_n(n)
        # Extra LLM candidates only once the surrogate can choose between them.
        asked = max(n, self.llm_candidates) if sum(t.finished for t in history) >= MIN_TRIALS else n
        from_llm = self._llm_candidates(space, history, n, asked)
        try:
            from_tpe = self.tpe.propose(space, with_pending(history, from_llm), n)
        except SpaceExhausted:
            from_tpe = []  # the LLM's candidates took what was left: they are enough
        candidates = from_llm + from_tpe
        scores = expected_improvement(space, history, self.objective, [c.params for c in candidates])
        if scores is None:
            # Too little data for a surrogate: trust the Creator's order (its fallback fills in if it failed).
            ranked: list[tuple[Proposal, float | None]] = [(c, None) for c in candidates[:n]]
            verdict = IN_ORDER
        else:
            ranked = sorted(zip(candidates, scores, strict=True), key=lambda cs: -cs[1])[:n]
            own = sum(c.source == "llm" for c in candidates)
            verdict = f"chosen by expected improvement among {own} LLM and {len(candidates) - own} TPE candidates"
        # The Creator's call is paid by the proposals chosen; TPE's inherit how its answer went.
        metrics = call_cost(from_llm, n)
        call = answer_tags(from_llm)
        chosen = []
        for candidate, score in ranked:
            tags = {**call, **candidate.tags, AGENT: verdict}
            source = candidate.source
            if source == "tpe" and call.get(REPAIR) == "fallback":
                source = "fallback"  # the LLM gave nothing usable: TPE stood in for it
            ei = f" (EI {score:.3g})" if score is not None else ""
            chosen.append(Proposal(candidate.params, source, f"{candidate.rationale} [{verdict}{ei}]",
                                   metrics=metrics, tags=tags))
        return chosen

    def _llm_candidates(self, space: SearchSpace, history: Sequence[TrialRecord], n: int,
                        asked: int) -> list[Proposal]:
        try:
            return self.llm.propose(space, history, asked)
        except SpaceExhausted:
            if asked == n:
                raise
            # Fewer untried configurations are left than extra candidates asked for: n must do.
            return self.llm.propose(space, history, n)
