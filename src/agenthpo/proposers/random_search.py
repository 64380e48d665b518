"""Random search: the paper's baseline, and the fallback of every other proposer."""

from __future__ import annotations

from collections.abc import Sequence

from agenthpo.proposers.base import ProposerContext, check_n, draw_distinct, history_rng, tried_keys
from agenthpo.space import SearchSpace
from agenthpo.trial import Objective, Proposal, TrialRecord


class RandomProposer:
    name = "random"
    uses_llm = False

    def __init__(self, objective: Objective, seed: int = 0, context: ProposerContext | None = None,
                 source: str = "random"):
        self.objective = objective
        self.seed = seed
        self.source = source

    def propose(self, space: SearchSpace, history: Sequence[TrialRecord], n: int) -> list[Proposal]:
        check_n(n)
        rng = history_rng(self.seed, history)
        taken = tried_keys(space, history)
        return [
            Proposal(draw_distinct(space, taken, lambda: space.sample(rng), "random search"), self.source,
                     "uniform random draw from the search space")
            for _ in range(n)
        ]
