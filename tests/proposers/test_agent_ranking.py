"""The `agent` proposer: the hedge decides whom to ask, and expected improvement ranks the Creator's candidates.

The Creator is a scripted server that answers with chosen configurations, so what it offers is known:
one near the optimum of a known function among bad ones, in a bad order. The histories are built so
that the hedge trusts one arm or the other (checked in each test, with `hedge.decide`).
"""

import json

import numpy as np
import pytest
from scripted_llm import ScriptedLLM

from agenthpo.llm import LLMConfig
from agenthpo.proposers import ProposerContext, make_proposer
from agenthpo.proposers import agent as agent_module
from agenthpo.proposers.gp_search import GPProposer
from agenthpo.proposers.hedge import CREATOR, MODEL, decide
from agenthpo.space import CategoricalParam, FloatParam, IntParam, SearchSpace
from agenthpo.surrogate import expected_improvement, fit_quality
from agenthpo.trial import Objective, TrialRecord, TrialState

SPACE = SearchSpace([FloatParam("x", 0.0, 1.0), FloatParam("y", 0.0, 1.0)])
OPTIMUM = {"x": 0.3, "y": 0.7}
NEAR = {"x": 0.36, "y": 0.62}
BAD = [{"x": 0.95, "y": 0.05}, {"x": 0.02, "y": 0.03}, {"x": 0.97, "y": 0.96}, {"x": 0.9, "y": 0.2}]
SEEDS = range(4)
DIRECTIONS = ["maximize", "minimize"]
MODEL_SOURCES = ("gp", "tpe")


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
            return json.dumps({"configs": [{"rationale": f"x={c.get('x')} is promising", **c} for c in configs]})
        return super().content(behaviour, request, body)

    def asked_for(self, request: int = 0) -> int:
        """How many configurations a Creator request asked for (its schema's minItems)."""
        return self.requests[request]["response_format"]["json_schema"]["schema"]["properties"]["configs"][
            "minItems"]


@pytest.fixture
def llm():
    with AnsweringLLM() as server:
        yield server


@pytest.fixture
def surrogate_explains(monkeypatch):
    """The surrogate's candidates order is used whatever its leave-one-out fit (tested on its own below)."""
    monkeypatch.setattr(agent_module, "FIT_THRESHOLD", -1.0)


def agent(server, objective, seed=0, **options):
    config = LLMConfig(base_url=server.base_url, model="scripted", max_retries=0)
    return make_proposer("agent", objective, seed, options,
                         ProposerContext("ranking", "a test", "quadratic", {}, config))


def value(objective, params) -> float:
    return -loss(params) if objective.maximize else loss(params)


def history(objective, seed, winner: str, count: int = 10):
    """`count` finished trials, none near the optimum, alternating the losing arm's and `winner`'s, the
    winner's better than every one of the loser's; then a failed trial."""
    rng = np.random.default_rng(seed)
    configs = sorted((c for c in (SPACE.sample(rng) for _ in range(20 * count)) if loss(c) > 0.05), key=loss)[:count]
    good, bad = configs[:count // 2], configs[count // 2:]
    rng.shuffle(good)
    rng.shuffle(bad)
    losers = ["llm"] if winner != "llm" else list(MODEL_SOURCES)
    winners = [winner] if winner != "llm" else ["llm"]
    records = []
    for i in range(count):
        config, source = (bad[i // 2], losers[i // 2 % len(losers)]) if i % 2 == 0 else \
            (good[i // 2], winners[0])
        records.append(TrialRecord(i + 1, config, TrialState.FINISHED, value(objective, config), source=source))
    return records + [TrialRecord(count + 1, {"x": 0.5, "y": 0.5}, TrialState.FAILED, error="boom", source="llm")]


def keys(space, configs) -> set:
    return {space.key(c) for c in configs}


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.usefixtures("surrogate_explains")
def test_a_trusted_creator_offers_candidates_and_the_best_by_expected_improvement_is_trained(llm, direction, seed):
    objective = Objective("score", direction)
    past = history(objective, seed, winner="llm")
    decision = decide(past, objective)
    assert decision.arm == CREATOR and "its credit is the higher" in decision.reason
    offered = [*BAD, OPTIMUM]  # the good one last: neither the Creator's order nor chance finds it
    scores = expected_improvement(SPACE, past, objective, offered)
    assert int(np.argmax(scores)) == 4
    llm.answers = [offered]
    (chosen,) = agent(llm, objective, seed, llm_candidates=5).propose(SPACE, past, 1)
    assert chosen.params == OPTIMUM and chosen.source == "llm"
    assert chosen.tags["agent"].startswith(decision.reason + "; candidates ordered by expected improvement")
    assert chosen.tags["repair"] == "none"
    assert len(llm.requests) == 1 and llm.asked_for() == 5  # one Creator call, for all five candidates
    assert chosen.metrics["llm/creator_llm_calls"] == pytest.approx(1.0)


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.usefixtures("surrogate_explains")
def test_a_round_of_a_trusted_creator_takes_its_candidates_in_order_of_expected_improvement(llm, direction, seed):
    objective = Objective("score", direction)
    past = history(objective, seed, winner="llm")
    assert decide(past, objective).arm == CREATOR
    offered = [BAD[0], NEAR, BAD[1], BAD[2], OPTIMUM, BAD[3]]
    llm.answers = [offered]
    chosen = agent(llm, objective, seed, llm_candidates=6).propose(SPACE, past, 2)
    scores = expected_improvement(SPACE, past, objective, offered)
    best = [offered[i] for i in np.argsort(scores)[::-1][:2]]
    assert [p.params for p in chosen] == best
    assert keys(SPACE, best) == keys(SPACE, [OPTIMUM, NEAR])  # the far-off offers are never taken
    assert [p.source for p in chosen] == ["llm", "llm"]
    assert llm.asked_for() == 6
    # The one call's usage is paid by the proposals chosen, whatever was asked.
    assert sum(p.metrics["llm/creator_llm_calls"] for p in chosen) == pytest.approx(1.0)
    assert sum(p.metrics["llm/creator_prompt_tokens"] for p in chosen) == pytest.approx(100.0)


@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("seed", SEEDS)
def test_a_trusted_model_proposes_without_asking_the_creator(llm, direction, seed, n):
    objective = Objective("score", direction)
    past = history(objective, seed, winner="gp")
    decision = decide(past, objective)
    assert decision.arm == MODEL and "its credit is the higher" in decision.reason
    chosen = agent(llm, objective, seed).propose(SPACE, past, n)
    assert llm.requests == []
    assert len(chosen) == n and all(p.source in MODEL_SOURCES for p in chosen)
    assert all(set(p.tags) == {"agent"} and p.tags["agent"].startswith(decision.reason) for p in chosen)  # no repair
    assert all(not any(k.startswith("creator_") for k in p.metrics) for p in chosen)
    assert len(keys(SPACE, [p.params for p in chosen])) == n
    assert not keys(SPACE, [p.params for p in chosen]) & keys(SPACE, [t.params for t in past])


@pytest.mark.parametrize("past", [[], [TrialRecord(1, {"x": 0.5, "y": 0.5}, TrialState.FAILED, error="boom")]])
@pytest.mark.parametrize("n", [1, 3])
def test_before_any_result_the_creators_configurations_are_taken_in_its_order(llm, past, n):
    objective = Objective("score", "maximize")
    offered = [BAD[0], OPTIMUM, BAD[1]]  # one more than asked for when n is 1: the first is taken
    llm.answers = [offered]
    chosen = agent(llm, objective, llm_candidates=5).propose(SPACE, past, n)
    assert [p.params for p in chosen] == offered[:n]
    assert all(p.source == "llm" and p.tags["agent"].startswith(decide(past, objective).reason) for p in chosen)
    assert "no trial of either side has finished" in chosen[0].tags["agent"]
    # No surrogate to choose with: no extra candidates are asked for.
    assert len(llm.requests) == 1 and llm.asked_for() == n


@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_an_unusable_answer_of_a_trusted_creator_gives_the_slot_to_the_model(llm, direction, n):
    objective = Objective("score", direction)
    past = history(objective, 0, winner="llm")
    decision = decide(past, objective)
    assert decision.arm == CREATOR
    llm.behaviours = ["prose", "prose"]
    chosen = agent(llm, objective).propose(SPACE, past, n)
    assert len(llm.requests) == 1  # no repair round: the model arm stands in
    assert len(chosen) == n and all(p.source in MODEL_SOURCES for p in chosen)
    for proposal in chosen:
        assert proposal.tags["repair"] == "fallback"
        assert "not JSON" in proposal.tags["llm_problems"]
        assert proposal.tags["agent"].startswith(decision.reason)
        assert "the Creator's answer was unusable (" in proposal.tags["agent"]
        assert proposal.tags["agent"].endswith("the model's pick took its slot")
    assert sum(p.metrics["llm/creator_llm_calls"] for p in chosen) == pytest.approx(1.0)
    assert len(keys(SPACE, [p.params for p in chosen])) == n
    assert not keys(SPACE, [p.params for p in chosen]) & keys(SPACE, [t.params for t in past])


GRID = SearchSpace([IntParam("x", 0, 6), IntParam("y", 0, 6)])


def grid_history(objective):
    """The model arm's trials beat the random ones, and the Creator has none: the hedge gives the Creator
    the round's first slot (each side is tried once) and trusts the model with the rest."""
    rows = [({"x": 6, "y": 0}, "random"), ({"x": 3, "y": 4}, "gp"), ({"x": 0, "y": 6}, "random"),
            ({"x": 2, "y": 3}, "tpe"), ({"x": 6, "y": 6}, "random"), ({"x": 1, "y": 4}, "gp")]
    grid_loss = lambda c: (c["x"] - 2) ** 2 + (c["y"] - 5) ** 2  # noqa: E731
    return [TrialRecord(i + 1, c, TrialState.FINISHED, -grid_loss(c) if objective.maximize else grid_loss(c),
                        source=s) for i, (c, s) in enumerate(rows)]


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.usefixtures("surrogate_explains")
def test_a_parallel_round_is_distinct_and_the_creators_candidates_are_pending_for_the_model(llm, direction):
    objective = Objective("score", direction)
    past = grid_history(objective)
    decision = decide(past, objective)
    assert decision.arm == CREATOR and "the Creator none" in decision.reason
    # The Creator offers exactly what the Gaussian-process search likes best: without the offers pending,
    # the model arm would propose them again.
    offered = [p.params for p in GPProposer(objective).propose(GRID, past, 4)]
    llm.answers = [offered]
    chosen = agent(llm, objective, llm_candidates=4).propose(GRID, past, 3)
    assert llm.asked_for() == 4 and len(llm.requests) == 1
    assert [p.source for p in chosen][0] == "llm" and all(p.source in MODEL_SOURCES for p in chosen[1:])
    chosen_keys = [GRID.key(p.params) for p in chosen]
    assert len(set(chosen_keys)) == 3
    assert not set(chosen_keys) & keys(GRID, [t.params for t in past])
    assert GRID.key(chosen[0].params) in keys(GRID, offered)
    assert not keys(GRID, [p.params for p in chosen[1:]]) & keys(GRID, offered)
    assert all(p.tags["agent"].startswith(decision.reason) for p in chosen)
    assert all("repair" not in p.tags and not p.metrics for p in chosen[1:])


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_a_parallel_round_of_a_trusted_creator(llm, direction):
    objective = Objective("score", direction)
    past = history(objective, 1, winner="llm")
    assert decide(past, objective).arm == CREATOR
    chosen = agent(llm, objective, llm_candidates=2).propose(SPACE, past, 3)  # the server's own valid answer
    assert llm.asked_for() == 3  # the round's three slots, more than llm_candidates
    assert [p.source for p in chosen] == ["llm"] * 3
    assert len(keys(SPACE, [p.params for p in chosen])) == 3
    assert not keys(SPACE, [p.params for p in chosen]) & keys(SPACE, [t.params for t in past])


TINY = SearchSpace([CategoricalParam("a", ("x", "y")), IntParam("b", 0, 1)])
LAST = {"a": "y", "b": 1}


@pytest.mark.parametrize("sources, arm", [(("start", "random", "random"), CREATOR), (("llm", "gp", "gp"), MODEL)])
def test_the_last_untried_configuration_of_a_finite_space_is_proposed(llm, sources, arm):
    past = [TrialRecord(i + 1, {"a": a, "b": b}, TrialState.FINISHED, float(i), source=source)
            for i, ((a, b), source) in enumerate(zip([("x", 0), ("x", 1), ("y", 0)], sources, strict=True))]
    objective = Objective("score")
    assert decide(past, objective).arm == arm
    llm.answers = [[LAST], [LAST]]
    (chosen,) = agent(llm, objective).propose(TINY, past, 1)
    assert chosen.params == LAST
    assert chosen.source == "llm" if arm == CREATOR else chosen.source in MODEL_SOURCES


def noisy_history(objective, seed):
    """Ten finished trials whose values have nothing to do with their configurations: no GP explains them."""
    rng = np.random.default_rng(seed)
    return [TrialRecord(i + 1, SPACE.sample(rng), TrialState.FINISHED, float(rng.normal()),
                        source="llm" if i % 2 else "gp") for i in range(10)]


@pytest.mark.parametrize("seed", SEEDS)
def test_a_surrogate_that_does_not_explain_the_results_orders_nothing(llm, seed):
    objective = Objective("score", "maximize")
    past = noisy_history(objective, seed)
    quality = fit_quality(SPACE, past, objective)
    assert quality is not None and quality < agent_module.FIT_THRESHOLD
    decision = decide(past, objective)
    offered = [BAD[0], OPTIMUM, BAD[1]]
    llm.answers = [offered]
    chosen = agent(llm, objective, seed, llm_candidates=3).propose(SPACE, past, 1)[0]
    if decision.arm == CREATOR:
        assert chosen.params == BAD[0]  # the Creator's order is kept
    else:
        # The GP search's own pick (it can fit), not TPE's candidate ranked against it by a surrogate that fails
        assert chosen.source == "gp"
        assert chosen.params == GPProposer(objective, seed).propose(SPACE, past, 1)[0].params
    assert f"leave-one-out rank correlation {quality:.2f} < {agent_module.FIT_THRESHOLD}" in chosen.tags["agent"]


def test_the_fit_quality_of_a_smooth_function_is_high():
    objective = Objective("score", "minimize")
    rng = np.random.default_rng(0)
    past = [TrialRecord(i + 1, c, TrialState.FINISHED, loss(c)) for i, c in enumerate(SPACE.sample(rng)
                                                                                      for _ in range(12))]
    assert fit_quality(SPACE, past, objective) > 0.8
