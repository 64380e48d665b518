"""The agent proposer ranks candidates by expected improvement: tests that a random choice fails.

The Creator is a scripted server that answers with chosen configurations, so what it offers is
known: one near the optimum of a known function among bad ones, in a bad order.
"""

import json

import numpy as np
import pytest
from scripted_llm import ScriptedLLM

from agenthpo.llm import LLMConfig
from agenthpo.proposers import ProposerContext, make_proposer
from agenthpo.proposers.agent import IN_ORDER
from agenthpo.proposers.base import with_pending
from agenthpo.proposers.tpe import TPEProposer
from agenthpo.space import FloatParam, SearchSpace
from agenthpo.surrogate import expected_improvement
from agenthpo.trial import Objective, Proposal, TrialRecord, TrialState

SPACE = SearchSpace([FloatParam("x", 0.0, 1.0), FloatParam("y", 0.0, 1.0)])
OPTIMUM = {"x": 0.3, "y": 0.7}
NEAR = {"x": 0.35, "y": 0.65}
BAD = [{"x": 0.95, "y": 0.05}, {"x": 0.02, "y": 0.03}, {"x": 0.97, "y": 0.96}, {"x": 0.9, "y": 0.2}]
SEEDS = range(5)


def loss(params) -> float:
    return (params["x"] - 0.3) ** 2 + (params["y"] - 0.7) ** 2


class AnsweringLLM(ScriptedLLM):
    """Answers each Creator request with the next queued list of configurations."""

    def __init__(self):
        super().__init__()
        self.answers: list[list[dict]] = []

    def content(self, behaviour, request, body):
        if behaviour == "valid" and self.answers:
            configs = self.answers.pop(0)
            return json.dumps({"configs": [{"rationale": f"offer {i}", **c} for i, c in enumerate(configs)]})
        return super().content(behaviour, request, body)


@pytest.fixture
def llm():
    with AnsweringLLM() as server:
        yield server


def agent(server, objective, seed, **options):
    config = LLMConfig(base_url=server.base_url, model="scripted", max_retries=0)
    return make_proposer("agent", objective, seed, options, ProposerContext("ranking", "a test", "quadratic", {},
                                                                            config))


def history(objective, count, seed):
    """`count` finished trials on the known function, none near the optimum, plus a failed one."""
    rng = np.random.default_rng(seed)
    sign = -1.0 if objective.maximize else 1.0
    configs = [c for c in (SPACE.sample(rng) for _ in range(10 * count)) if loss(c) > 0.05][:count]
    records = [TrialRecord(i + 1, c, TrialState.FINISHED, sign * loss(c), source="random")
               for i, c in enumerate(configs)]
    return records + [TrialRecord(count + 1, {"x": 0.5, "y": 0.5}, TrialState.FAILED, error="boom")]


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
@pytest.mark.parametrize("seed", SEEDS)
def test_the_candidate_with_the_best_expected_improvement_is_chosen(llm, direction, seed):
    objective = Objective("score", direction)
    past = history(objective, 12, seed)
    offered = [*BAD, OPTIMUM]  # the good one last: neither the Creator's order nor chance finds it
    llm.answers = [offered]
    # TPE still in its random startup: its one candidate is a uniform draw, far from the optimum.
    (chosen,) = agent(llm, objective, seed, llm_candidates=5, tpe_startup_trials=50).propose(SPACE, past, 1)
    assert chosen.params == OPTIMUM
    assert chosen.source == "llm" and chosen.rationale.startswith("offer 4")
    assert chosen.tags["agent"] == "chosen by expected improvement among 5 LLM and 1 TPE candidates"
    scores = expected_improvement(SPACE, past, objective, offered)
    assert f"(EI {max(scores):.3g})]" in chosen.rationale and int(np.argmax(scores)) == 4
    assert len(llm.requests) == 1  # one Creator call, for all five candidates
    assert llm.requests[0]["response_format"]["json_schema"]["schema"]["properties"]["configs"]["minItems"] == 5


@pytest.mark.parametrize("seed", SEEDS)
def test_a_round_takes_the_best_candidates_in_order_of_expected_improvement(llm, seed):
    objective = Objective("score", "minimize")
    past = history(objective, 12, seed)
    offered = [BAD[0], NEAR, BAD[1], BAD[2], OPTIMUM, BAD[3]]
    llm.answers = [offered]
    chosen = agent(llm, objective, seed, llm_candidates=6).propose(SPACE, past, 2)
    # The whole pool, rebuilt: TPE (past its startup) was asked with the LLM's candidates pending.
    pending = with_pending(past, [Proposal(c, "llm") for c in offered])
    from_tpe = [p.params for p in TPEProposer(objective, seed, n_startup_trials=5).propose(SPACE, pending, 2)]
    pool = offered + from_tpe
    scores = expected_improvement(SPACE, past, objective, pool)
    assert [p.params for p in chosen] == [pool[i] for i in np.argsort(scores)[::-1][:2]]
    # Whatever TPE found, the LLM's far-off offers are never taken.
    assert not any(p.params in BAD for p in chosen)
    assert [p.source for p in chosen] == ["llm" if p.params in offered else "tpe" for p in chosen]
    # The one call's usage is paid by the proposals chosen, whatever was asked.
    assert sum(p.metrics["creator_llm_calls"] for p in chosen) == pytest.approx(1.0)
    assert sum(p.metrics["creator_prompt_tokens"] for p in chosen) == pytest.approx(100.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_with_too_few_finished_trials_the_creators_order_is_kept(llm, seed):
    objective = Objective("score", "maximize")
    past = history(objective, 2, seed)
    offered = [BAD[0], BAD[1], OPTIMUM]
    llm.answers = [offered]
    chosen = agent(llm, objective, seed, llm_candidates=5).propose(SPACE, past, 3)
    assert [p.params for p in chosen] == offered
    assert all(p.source == "llm" and p.tags["agent"] == IN_ORDER for p in chosen)
    assert [p.rationale for p in chosen] == [f"offer {i} [{IN_ORDER}]" for i in range(3)]
    # No surrogate to choose with: no extra candidates are asked for.
    assert llm.requests[0]["response_format"]["json_schema"]["schema"]["properties"]["configs"]["minItems"] == 3


def test_tpe_stands_in_when_the_llm_gives_nothing(llm):
    objective = Objective("score", "maximize")
    past = history(objective, 12, 0)
    llm.behaviours = ["prose", "prose"]
    chosen = agent(llm, objective, 0).propose(SPACE, past, 2)
    assert all(p.source == "fallback" and p.tags["repair"] == "fallback" for p in chosen)
    assert all("chosen by expected improvement among 0 LLM and 4 TPE candidates" in p.rationale for p in chosen)
    assert all("could not be parsed" in p.tags["llm_problems"] or p.tags["llm_problems"] for p in chosen)
    assert sum(p.metrics["creator_llm_calls"] for p in chosen) == pytest.approx(2.0)  # answer and repair


def test_llm_candidates_reach_tpe_as_pending_trials(llm):
    # A finite space with one untried configuration: the LLM takes it, TPE is left with nothing,
    # and the agent still proposes it (TPE's SpaceExhausted is not the agent's).
    from agenthpo.space import CategoricalParam, IntParam

    tiny = SearchSpace([CategoricalParam("a", ("x", "y")), IntParam("b", 0, 1)])
    past = [TrialRecord(i + 1, {"a": a, "b": b}, TrialState.FINISHED, float(i))
            for i, (a, b) in enumerate([("x", 0), ("x", 1), ("y", 0)])]
    llm.answers = [[{"a": "y", "b": 1}]]
    (chosen,) = agent(llm, Objective("score"), 0, llm_candidates=1).propose(tiny, past, 1)
    assert chosen.params == {"a": "y", "b": 1} and chosen.source == "llm"
    assert "among 1 LLM and 0 TPE candidates" in chosen.tags["agent"]
