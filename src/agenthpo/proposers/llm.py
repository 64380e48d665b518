"""The `llm` proposer: the paper's Creator, valid by construction, with a recorded fallback.

Order of defence: a grammar-enforced schema (enums, integer bounds, float grids), client-side
validation and duplicate checks, one repair round that tells the model what was wrong, then
Optuna's TPE fills whatever is still missing, recorded as source `fallback`.
"""

from __future__ import annotations

from collections.abc import Sequence

from agenthpo.agents.creator import Background, CreatorResult, propose_with_llm
from agenthpo.llm.client import LLMClient, LLMError, Usage
from agenthpo.llm.config import LLMConfig
from agenthpo.proposers.base import ProposerContext, check_n, history_rng, tried_keys
from agenthpo.proposers.tpe import TPEProposer
from agenthpo.space import SearchSpace
from agenthpo.trial import Objective, Proposal, TrialRecord


def usage_metrics(usage: Usage, share: int = 1) -> dict[str, float]:
    """Creator usage as trial metrics; a call that produced `share` proposals is split between them."""
    return {k: v / share for k, v in usage.to_metrics("creator").items()}


class LLMProposer:
    name = "llm"

    def __init__(self, objective: Objective, seed: int = 0, context: ProposerContext | None = None,
                 fallback_startup_trials: int = 5, client: LLMClient | None = None):
        self.objective = objective
        self.seed = seed
        self.context = context or ProposerContext()
        self.fallback = TPEProposer(objective, seed, n_startup_trials=fallback_startup_trials, source="fallback")
        self._client = client

    def client(self) -> LLMClient:
        if self._client is None:
            self._client = LLMClient(self.context.llm or LLMConfig())
        return self._client

    def background(self) -> Background:
        return Background(self.context.study, self.context.description, self.context.model,
                          dict(self.context.dataset))

    def ask(self, space: SearchSpace, history: Sequence[TrialRecord], n: int, taken: set[tuple],
            needed: int | None = None) -> CreatorResult:
        try:
            client = self.client()
        except LLMError as exc:
            return CreatorResult([], [], Usage(), error=str(exc))
        seed = int(history_rng(self.seed, history, salt=1).integers(2**31 - 1))
        return propose_with_llm(client, self.background(), space, history, self.objective, n, taken, seed, needed)

    def propose(self, space: SearchSpace, history: Sequence[TrialRecord], n: int) -> list[Proposal]:
        check_n(n)
        taken = tried_keys(space, history)
        result = self.ask(space, history, n, taken)
        repair = "repaired" if result.repaired else "none"
        metrics = usage_metrics(result.usage, n)
        proposals = [
            Proposal(params, "llm", rationale or "(no rationale given)", metrics=metrics,
                     tags={"repair": repair, "llm_problems": "; ".join(result.problems)[:2000] or "-"})
            for params, rationale in result.configs
        ]
        missing = n - len(proposals)
        if missing:
            reason = result.error or "; ".join(result.problems) or "too few configurations"
            for filler in self.fallback.propose(space, history, missing, taken={*taken}):
                proposals.append(Proposal(
                    filler.params, "fallback", f"LLM answer unusable ({reason[:300]}); {filler.rationale}",
                    metrics=metrics, tags={"repair": "fallback", "llm_problems": reason[:2000]}))
        return proposals
