"""Gaussian-process search: the configuration of greatest expected improvement among a pool of candidates.

The agent's model arm (with TPE). The pool is uniform draws over the space plus neighbours of the best
trials (a few parameters moved a little on their own scale: the unit interval, log where the parameter
is), and any candidates the caller adds; `agenthpo.surrogate` scores them. With too few finished
trials for the surrogate to fit, the proposals are uniform draws, recorded as `random`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from agenthpo.proposers.base import ProposerContext, SpaceExhausted, check_n, history_rng, tried_keys
from agenthpo.space import CategoricalParam, IntParam, OrdinalParam, Param, Scalar, SearchSpace
from agenthpo.surrogate import expected_improvement
from agenthpo.trial import Objective, Proposal, TrialRecord

POOL_UNIFORM = 256
INCUMBENTS = 3  # the best trials whose neighbourhoods are searched
NEIGHBOURS = 64  # per incumbent
STEP = 0.08  # standard deviation of a neighbour's move, on the unit scale


def from_unit(param: Param, unit: float) -> Scalar:
    """The value at position `unit` in [0, 1] of an ordered parameter's own scale (inverse of `to_unit`)."""
    unit = min(max(unit, 0.0), 1.0)
    if isinstance(param, OrdinalParam):
        return param.choices[round(unit * (len(param.choices) - 1))]
    low, high = param.low, param.high  # type: ignore[union-attr]
    if param.log:  # type: ignore[union-attr]
        value = math.exp(math.log(low) + unit * (math.log(high) - math.log(low)))
    else:
        value = low + unit * (high - low)
    if isinstance(param, IntParam):
        return int(min(max(round(value), low), high))
    return float(min(max(value, low), high))


def neighbour(space: SearchSpace, config: Mapping[str, Scalar], rng: np.random.Generator) -> dict[str, Scalar]:
    """`config` with one to three parameters moved: ordered ones a small step, unordered ones redrawn."""
    moved = dict(config)
    names = rng.choice(len(space), size=min(len(space), int(rng.integers(1, 4))), replace=False)
    for index in names:
        param = space[int(index)]
        if isinstance(param, CategoricalParam) and not isinstance(param, OrdinalParam):
            moved[param.name] = param.sample(rng)
        else:
            moved[param.name] = from_unit(param, param.to_unit(config[param.name]) + rng.normal(0.0, STEP))
    return moved


class GPProposer:
    name = "gp"
    uses_llm = False

    def __init__(self, objective: Objective, seed: int = 0, context: ProposerContext | None = None):
        self.objective = objective
        self.seed = seed

    def pool(self, space: SearchSpace, history: Sequence[TrialRecord], rng: np.random.Generator
             ) -> list[dict[str, Scalar]]:
        done = sorted((t for t in history if t.finished), key=lambda t: t.value,  # type: ignore[arg-type, return-value]
                      reverse=self.objective.maximize)
        incumbents = []
        for trial in done[:INCUMBENTS]:
            try:
                incumbents.append(space.validate(trial.params))
            except ValueError:
                continue  # from an earlier version of the space
        candidates = [space.sample(rng) for _ in range(POOL_UNIFORM)]
        candidates += [neighbour(space, c, rng) for c in incumbents for _ in range(NEIGHBOURS)]
        return candidates

    def propose(self, space: SearchSpace, history: Sequence[TrialRecord], n: int) -> list[Proposal]:
        check_n(n)
        rng = history_rng(self.seed, history, salt=2)
        taken = tried_keys(space, history)
        fresh: dict[tuple, dict[str, Scalar]] = {}
        for candidate in self.pool(space, history, rng):
            key = space.key(candidate)
            if key not in taken:
                fresh.setdefault(key, candidate)
        if len(fresh) < n:
            raise SpaceExhausted(f"gp: {len(fresh)} untried configurations in a pool of "
                                 f"{POOL_UNIFORM + INCUMBENTS * NEIGHBOURS}; {n} were asked for")
        candidates = list(fresh.values())
        scores = expected_improvement(space, history, self.objective, candidates)
        if scores is None:
            return [Proposal(c, "random", "uniform random draw: too few finished trials for the Gaussian process")
                    for c in candidates[:n]]
        order = sorted(range(len(candidates)), key=lambda i: -scores[i])[:n]
        finished = sum(t.finished for t in history)
        return [Proposal(candidates[i], "gp", f"Gaussian-process search: greatest expected improvement "
                                             f"({scores[i]:.3g}) among {len(candidates)} candidates, fitted on "
                                             f"{finished} finished trials") for i in order]
