"""The one proposer interface: history in, proposals out.

LLM, random and TPE proposers are interchangeable behind it. A proposer is constructed from the
objective, a seed and its own options, and keeps no state between calls: everything it knows comes
from the history it is given, so a proposer in a fresh process (a pipeline step) behaves the same.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from agenthpo.llm.config import LLMConfig
from agenthpo.space import Scalar, SearchSpace
from agenthpo.trial import Objective, Proposal, TrialRecord, TrialState

# How often a proposer redraws before it concludes the untried part of the space is too small.
MAX_REDRAWS = 200


class SpaceExhausted(RuntimeError):
    """Every configuration of a finite space has been tried."""


@runtime_checkable
class Proposer(Protocol):
    name: str
    uses_llm: bool  # its Creator is an LLM: it needs an endpoint, and the study's analyses use one too

    def propose(self, space: SearchSpace, history: Sequence[TrialRecord], n: int) -> list[Proposal]:
        """Return n distinct valid configurations that differ from every one in the history.

        Every trial of the history is taken, whatever its state: configurations proposed but not yet
        trained travel as RUNNING records (see `with_pending`), which is how proposers are combined."""
        ...


def history_rng(seed: int, history: Sequence[TrialRecord], salt: int = 0) -> np.random.Generator:
    """A generator that depends on the seed and on how far the study is, so that each pipeline
    step, started afresh, draws something new while staying reproducible."""
    return np.random.default_rng([seed, len(history), salt])


def with_pending(history: Sequence[TrialRecord], proposals: Sequence[Proposal]) -> list[TrialRecord]:
    """The history with the proposals appended as RUNNING trials, numbered past it: another proposer
    given this avoids them (as a round's opened trials are avoided, study.create_round) but learns
    nothing from them, having no result."""
    start = max((t.number for t in history), default=0) + 1
    return [*history, *(TrialRecord(number=start + i, params=p.params, state=TrialState.RUNNING, source=p.source)
                        for i, p in enumerate(proposals))]


def tried_keys(space: SearchSpace, history: Sequence[TrialRecord]) -> set[tuple]:
    keys = set()
    for trial in history:
        try:
            keys.add(space.key(space.validate(trial.params)))
        except ValueError:
            continue  # a trial from an earlier version of the space: not a duplicate of anything here
    return keys


def draw_distinct(
    space: SearchSpace,
    taken: set[tuple],
    draw: Callable[[], dict[str, Scalar]],
    what: str,
) -> dict[str, Scalar]:
    """Call draw until it returns a configuration not in taken; add it to taken."""
    for _ in range(MAX_REDRAWS):
        config = space.validate(draw())
        key = space.key(config)
        if key not in taken:
            taken.add(key)
            return config
    raise SpaceExhausted(f"{what}: no untried configuration found in {MAX_REDRAWS} draws; "
                         f"{len(taken)} configurations are already taken")


def check_n(n: int) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n={n!r} must be an integer >= 1")


@dataclass(frozen=True)
class ProposerContext:
    """What an LLM Creator needs besides the space and the history; other proposers ignore it."""

    study: str = ""
    description: str = ""
    model: str = ""
    dataset: Mapping[str, Any] = field(default_factory=dict)
    llm: LLMConfig | None = None
    # Earlier data generations' finished trials: the Creator reads them as prior knowledge (agenthpo.generations).
    prior: tuple[TrialRecord, ...] = ()


class ProposerFactory(Protocol):
    uses_llm: bool

    def __call__(self, objective: Objective, seed: int, context: ProposerContext | None = None,
                 **options) -> Proposer: ...
