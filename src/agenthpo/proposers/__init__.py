"""Proposers by name. Every one is built as `factory(objective, seed, **options)`."""

from __future__ import annotations

from typing import Any

from agenthpo.proposers.agent import AgentProposer
from agenthpo.proposers.base import Proposer, ProposerContext, ProposerFactory, SpaceExhausted
from agenthpo.proposers.llm import LLMProposer
from agenthpo.proposers.random_search import RandomProposer
from agenthpo.proposers.tpe import TPEProposer
from agenthpo.trial import Objective

PROPOSERS: dict[str, ProposerFactory] = {
    "random": RandomProposer,
    "tpe": TPEProposer,
    "llm": LLMProposer,
    "agent": AgentProposer,
}


def make_proposer(name: str, objective: Objective, seed: int, options: dict[str, Any] | None = None,
                  context: ProposerContext | None = None) -> Proposer:
    try:
        factory = PROPOSERS[name]
    except KeyError:
        raise ValueError(f"proposer={name!r} is not one of {sorted(PROPOSERS)}") from None
    try:
        return factory(objective, seed, context, **(options or {}))
    except TypeError as exc:
        raise ValueError(f"proposer {name!r}: bad options {options!r} ({exc})") from None


__all__ = ["PROPOSERS", "AgentProposer", "LLMProposer", "Proposer", "ProposerContext", "RandomProposer",
           "SpaceExhausted", "TPEProposer", "make_proposer"]
