"""The agent's hedge without an LLM: stand-in Creators on analytic tasks, in seconds (`make bench-hedge`).

The default suite (`make bench`) measures the agent with the local model but takes hours, and with five
repeats its noise is as large as most of the differences a change to the hedge makes. This runs the
`agent` proposer itself with its Creator replaced by a stand-in, 60 seeds per task, and prints the
median best-so-far after 3, 5 and 10 trials next to TPE's and random search's:
- `random`: uniform draws, which is how the local SmolLM2's picks scored in the default suite;
- `bounds`: the corners of the space, the weak Creator of issue 12 (always the bounds);
- `near-optimal`: the best of 300 draws, a Creator that knows the landscape.
The tasks are Branin, the shifted Rosenbrock, Hartmann-6 and a training-like landscape of a
log-scaled learning rate, an optimizer, a layer count and dropout. Lower is better on all four.

Run: .venv/bin/python benchmarks/hedge_sim.py [seeds]
"""

from __future__ import annotations

import math
import statistics
import sys
from collections.abc import Callable, Mapping

import numpy as np

from agenthpo.proposers.agent import AgentProposer
from agenthpo.proposers.random_search import RandomProposer
from agenthpo.proposers.tpe import TPEProposer
from agenthpo.space import CategoricalParam, FloatParam, IntParam, SearchSpace
from agenthpo.trial import Objective, Proposal, TrialRecord, TrialState

MINIMIZE = Objective("value", "minimize")
CHECKPOINTS = (3, 5, 10)
Function = Callable[[Mapping], float]


def branin(p: Mapping) -> float:
    x1, x2 = p["x1"], p["x2"]
    return ((x2 - 5.1 / (4 * math.pi ** 2) * x1 ** 2 + 5 / math.pi * x1 - 6) ** 2
            + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10)


def rosenbrock_shifted(p: Mapping) -> float:
    x, y = p["x1"] - 1.5, p["x2"] + 2.0
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8],
                 [17, 8, 0.05, 10, 0.1, 14]])
_H_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                        [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])


def hartmann6(p: Mapping) -> float:
    x = np.array([p[f"x{i}"] for i in range(6)])
    return float(-np.sum(_H_ALPHA * np.exp(-np.sum(_H_A * (x - _H_P) ** 2, axis=1))))


def training_like(p: Mapping) -> float:
    optimizer = {"sgd": 0.3, "adam": 0.0, "adamw": 0.05}[p["optimizer"]]
    return (math.log10(p["lr"]) + 2.5) ** 2 + optimizer + 0.02 * abs(p["layers"] - 2) + (p["dropout"] - 0.3) ** 2


TASKS: dict[str, tuple[SearchSpace, Function]] = {
    "branin": (SearchSpace([FloatParam("x1", -5.0, 10.0), FloatParam("x2", 0.0, 15.0)]), branin),
    "rosenbrock-shifted": (SearchSpace([FloatParam("x1", -5.0, 10.0), FloatParam("x2", -5.0, 10.0)]),
                           rosenbrock_shifted),
    "hartmann6": (SearchSpace([FloatParam(f"x{i}", 0.0, 1.0) for i in range(6)]), hartmann6),
    "training-like": (SearchSpace([FloatParam("lr", 1e-5, 1.0, log=True),
                                   CategoricalParam("optimizer", ("sgd", "adam", "adamw")),
                                   IntParam("layers", 1, 6), FloatParam("dropout", 0.0, 0.6)]), training_like),
}


class StandInCreator:
    """Proposes as the agent's Creator would (source `llm`), without an LLM."""

    def __init__(self, kind: str, seed: int, function: Function):
        self.kind, self.function = kind, function
        self.rng = np.random.default_rng([seed, 99])

    def propose(self, space: SearchSpace, history, n: int) -> list[Proposal]:
        return [Proposal(self._pick(space, len(history)), "llm", f"stand-in Creator ({self.kind})")
                for _ in range(n)]

    def _pick(self, space: SearchSpace, step: int) -> dict:
        if self.kind == "bounds":  # low corner, high corner, in turn
            return {p.name: (p.choices[-step % 2] if isinstance(p, CategoricalParam)
                             else (p.high if step % 2 else p.low)) for p in space}
        if self.kind == "near-optimal":
            return min((space.sample(self.rng) for _ in range(300)), key=self.function)
        return space.sample(self.rng)


def best_so_far(proposer, space: SearchSpace, function: Function, trials: int) -> list[float]:
    history: list[TrialRecord] = []
    curve: list[float] = []
    for number in range(1, trials + 1):
        proposal = proposer.propose(space, history, 1)[0]
        value = function(proposal.params)
        curve.append(min(value, curve[-1]) if curve else value)
        history.append(TrialRecord(number, proposal.params, TrialState.FINISHED, value, source=proposal.source))
    return curve


def medians(make, space: SearchSpace, function: Function, seeds: int) -> list[float]:
    curves = [best_so_far(make(seed), space, function, max(CHECKPOINTS)) for seed in range(seeds)]
    return [statistics.median(curve[k - 1] for curve in curves) for k in CHECKPOINTS]


def agent_with(kind: str, function: Function):
    def make(seed: int) -> AgentProposer:
        agent = AgentProposer(MINIMIZE, seed=seed)
        agent.llm = StandInCreator(kind, seed, function)  # type: ignore[assignment]
        return agent
    return make


def main(seeds: int = 60) -> None:
    print(f"median best-so-far after trials {'/'.join(map(str, CHECKPOINTS))} over {seeds} seeds (lower is better)")
    for name, (space, function) in TASKS.items():
        rows = {f"agent, {kind} Creator": medians(agent_with(kind, function), space, function, seeds)
                for kind in ("random", "bounds", "near-optimal")}
        rows["tpe"] = medians(lambda s: TPEProposer(MINIMIZE, s), space, function, seeds)
        rows["random"] = medians(lambda s: RandomProposer(MINIMIZE, s), space, function, seeds)
        print(f"\n{name}")
        for who, row in rows.items():
            print(f"  {who:30s} " + "  ".join(f"{v:10.4g}" for v in row))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
