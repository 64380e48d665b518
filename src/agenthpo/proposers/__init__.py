"""Proposers by name. Every one is built as `factory(objective, seed, context, **options)`, says whether
it uses an LLM (`uses_llm`), and is used only through `propose(space, history, n)`."""

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


def _factory(name: str) -> ProposerFactory:
    try:
        return PROPOSERS[name]
    except KeyError:
        raise ValueError(f"proposer={name!r} is not one of {sorted(PROPOSERS)}") from None


def uses_llm(name: str) -> bool:
    """Whether the named proposer's Creator is an LLM (then it needs an endpoint, and the study's
    analyses use one too). ValueError for an unknown name."""
    return bool(_factory(name).uses_llm)


def make_proposer(name: str, objective: Objective, seed: int, options: dict[str, Any] | None = None,
                  context: ProposerContext | None = None) -> Proposer:
    factory = _factory(name)
    try:
        return factory(objective, seed, context, **(options or {}))
    except TypeError as exc:
        raise ValueError(f"proposer {name!r}: bad options {options!r} ({exc})") from None


__all__ = ["PROPOSERS", "AgentProposer", "LLMProposer", "Proposer", "ProposerContext", "RandomProposer",
           "SpaceExhausted", "TPEProposer", "make_proposer", "uses_llm"]
