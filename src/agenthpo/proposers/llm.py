"""The `llm` proposer: the paper's Creator, valid by construction, with a recorded fallback.

Order of defence: a grammar-enforced schema (enums, integer bounds, float grids), client-side
validation and duplicate checks, one repair round that tells the model what was wrong, then
Optuna's TPE fills whatever is still missing, recorded as source `fallback`. A refused key
(`LLMAuthError`, a 401/403) is not a fault to fall back from: it is raised, and the study stops.
"""

from __future__ import annotations

from collections.abc import Sequence

from agenthpo.agents.creator import Background, CreatorResult, propose_with_llm
from agenthpo.llm.client import LLMClient, LLMError, Usage
from agenthpo.llm.config import LLMConfig
from agenthpo.proposers.base import ProposerContext, check_n, history_rng, tried_keys, with_pending
from agenthpo.proposers.creator_answer import creator_proposals, fallback_proposals
from agenthpo.proposers.tpe import TPEProposer
from agenthpo.space import SearchSpace
from agenthpo.trial import Objective, Proposal, TrialRecord


class LLMProposer:
    name = "llm"
    uses_llm = True

    def __init__(self, objective: Objective, seed: int = 0, context: ProposerContext | None = None,
                 fallback_startup_trials: int = 5, client: LLMClient | None = None, repair: bool = True):
        self.objective = objective
        self.repair = repair  # one repair round after an unusable answer (the agent has the model arm instead)
        self.seed = seed
        self.context = context or ProposerContext()
        self.fallback = TPEProposer(objective, seed, n_startup_trials=fallback_startup_trials, source="fallback")
        self._client = client

    def _answer(self, space: SearchSpace, history: Sequence[TrialRecord], n: int) -> CreatorResult:
        try:
            if self._client is None:
                self._client = LLMClient(self.context.llm or LLMConfig())
        except LLMError as exc:
            return CreatorResult([], [], Usage(), error=str(exc))
        ctx = self.context
        background = Background(ctx.study, ctx.description, ctx.model, dict(ctx.dataset), tuple(ctx.prior))
        seed = int(history_rng(self.seed, history, salt=1).integers(2**31 - 1))
        return propose_with_llm(self._client, background, space, history, self.objective, n,
                                tried_keys(space, history), seed, repair=self.repair)

    def propose(self, space: SearchSpace, history: Sequence[TrialRecord], n: int) -> list[Proposal]:
        check_n(n)
        result = self._answer(space, history, n)
        proposals = creator_proposals(result, n)
        missing = n - len(proposals)
        if missing:
            fillers = self.fallback.propose(space, with_pending(history, proposals), missing)
            proposals += fallback_proposals(result, fillers, n)
        return proposals
