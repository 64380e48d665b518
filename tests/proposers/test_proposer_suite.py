"""One suite for every proposer: whatever is in PROPOSERS must pass it.

The LLM proposers talk to a scripted OpenAI-compatible server here (deterministic, answers from the
request's schema); the real llama.cpp endpoint has its own tests in tests/llm.
"""

import numpy as np
import pytest
from scripted_llm import ScriptedLLM

from agenthpo.llm import LLMConfig
from agenthpo.proposers import PROPOSERS, ProposerContext, SpaceExhausted, uses_llm
from agenthpo.proposers import make_proposer as make_any
from agenthpo.proposers.base import with_pending
from agenthpo.space import CategoricalParam, FloatParam, IntParam, OrdinalParam, SearchSpace
from agenthpo.trial import SOURCES, Objective, Proposal, TrialRecord, TrialState

OBJECTIVE = Objective("score", "maximize")
SPACE = SearchSpace([
    FloatParam("lr", 1e-4, 1e-1, log=True),
    FloatParam("dropout", 0.0, 0.5),
    IntParam("depth", 2, 12),
    IntParam("width", 8, 512, log=True),
    CategoricalParam("act", ("relu", "gelu", "tanh")),
    OrdinalParam("batch", (16, 32, 64)),
])


def score(params) -> float:
    return -abs(np.log10(params["lr"]) + 2) - abs(params["depth"] - 6) / 6 - (params["act"] != "gelu")


def make_history(n: int, seed: int = 0, failed_every: int = 0) -> list[TrialRecord]:
    rng = np.random.default_rng(seed)
    history = []
    for i in range(n):
        params = SPACE.sample(rng)
        if failed_every and i % failed_every == failed_every - 1:
            history.append(TrialRecord(i + 1, params, TrialState.FAILED, error="boom"))
        else:
            history.append(TrialRecord(i + 1, params, TrialState.FINISHED, score(params), source="random"))
    return history


SCRIPTED = ScriptedLLM()


@pytest.fixture(scope="module", autouse=True)
def scripted_server():
    with SCRIPTED:
        yield SCRIPTED


def make_proposer(name, objective, seed, options=None):
    context = ProposerContext("suite", "a test study", "a test model", {"rows": 100},
                              LLMConfig(base_url=SCRIPTED.base_url, model="scripted", max_retries=0))
    return make_any(name, objective, seed, options, context)


@pytest.fixture(params=sorted(PROPOSERS))
def name(request):
    return request.param


@pytest.mark.parametrize("history_length", [0, 3, 15])
def test_proposals_are_valid_distinct_and_new(name, history_length):
    history = make_history(history_length, failed_every=4)
    proposals = make_proposer(name, OBJECTIVE, seed=3).propose(SPACE, history, 4)
    assert len(proposals) == 4
    keys = {SPACE.key(h.params) for h in history}
    for proposal in proposals:
        assert SPACE.validate(proposal.params) == proposal.params
        assert proposal.source in SOURCES
        assert SPACE.key(proposal.params) not in keys
        keys.add(SPACE.key(proposal.params))


def test_reproducible_by_seed(name):
    history = make_history(12)
    first = make_proposer(name, OBJECTIVE, seed=5).propose(SPACE, history, 2)
    again = make_proposer(name, OBJECTIVE, seed=5).propose(SPACE, history, 2)
    other = make_proposer(name, OBJECTIVE, seed=6).propose(SPACE, history, 2)
    assert [p.params for p in first] == [p.params for p in again]
    assert [p.params for p in first] != [p.params for p in other]


def test_a_fresh_process_moves_on_as_history_grows(name):
    # Each pipeline step builds a new proposer: with the same seed it must not repeat itself.
    proposer = make_proposer(name, OBJECTIVE, seed=0)
    history: list[TrialRecord] = []
    for number in range(1, 8):
        params = proposer.propose(SPACE, history, 1)[0].params
        history.append(TrialRecord(number, params, TrialState.FINISHED, score(params)))
    assert len({SPACE.key(t.params) for t in history}) == 7


def test_ignores_trials_from_another_space(name):
    history = make_history(5) + [TrialRecord(6, {"lr": 5.0}, TrialState.FINISHED, 1.0)]
    proposals = make_proposer(name, OBJECTIVE, seed=1).propose(SPACE, history, 1)
    SPACE.validate(proposals[0].params)


def test_finite_space_is_exhausted_cleanly(name):
    tiny = SearchSpace([CategoricalParam("a", ("x", "y")), IntParam("b", 0, 1)])
    history = [TrialRecord(i + 1, {"a": a, "b": b}, TrialState.FINISHED, float(i))
               for i, (a, b) in enumerate([("x", 0), ("x", 1), ("y", 0)])]
    last = make_proposer(name, OBJECTIVE, seed=0).propose(tiny, history, 1)
    assert last[0].params == {"a": "y", "b": 1}
    history.append(TrialRecord(4, last[0].params, TrialState.FINISHED, 4.0))
    with pytest.raises(SpaceExhausted):
        make_proposer(name, OBJECTIVE, seed=0).propose(tiny, history, 1)


def test_bad_n_and_bad_options(name):
    with pytest.raises(ValueError, match=r"n=0 must be an integer >= 1"):
        make_proposer(name, OBJECTIVE, seed=0).propose(SPACE, [], 0)
    with pytest.raises(ValueError, match=rf"proposer {name!r}: bad options"):
        make_proposer(name, OBJECTIVE, seed=0, options={"no_such_option": 1})


def test_tpe_exploits_the_history_after_startup():
    history = make_history(30, seed=2)
    best = max(t.value for t in history)
    tpe = make_proposer("tpe", OBJECTIVE, seed=0, options={"n_startup_trials": 5}).propose(SPACE, history, 8)
    rnd = make_proposer("random", OBJECTIVE, seed=0).propose(SPACE, history, 8)
    assert all(p.source == "tpe" for p in tpe)
    assert np.mean([score(p.params) for p in tpe]) > np.mean([score(p.params) for p in rnd])
    assert best > -3  # the history itself holds good points to exploit


@pytest.mark.parametrize("name", ["llm", "agent"])
def test_llm_proposers_use_the_llm_and_record_usage(name):
    proposals = make_proposer(name, OBJECTIVE, seed=0).propose(SPACE, make_history(2), 1)
    assert proposals[0].source == "llm"
    assert proposals[0].metrics["llm/creator_prompt_tokens"] == 100 and proposals[0].tags["repair"] == "none"
    assert "scripted rationale" in proposals[0].rationale


def test_says_whether_it_uses_an_llm(name):
    assert uses_llm(name) is PROPOSERS[name].uses_llm is make_proposer(name, OBJECTIVE, 0).uses_llm
    assert uses_llm(name) == (name in ("llm", "agent"))
    with pytest.raises(ValueError, match="is not one of"):
        uses_llm("no_such_proposer")


def test_pending_trials_are_taken(name):
    # Proposers are combined by passing each other's candidates as RUNNING trials: never proposed again.
    tiny = SearchSpace([CategoricalParam("a", ("x", "y")), IntParam("b", 0, 1)])
    history = [TrialRecord(1, {"a": "x", "b": 0}, TrialState.FINISHED, 1.0),
               TrialRecord(2, {"a": "x", "b": 1}, TrialState.FINISHED, 2.0)]
    pending = with_pending(history, [Proposal({"a": "y", "b": 0}, "llm")])
    assert pending[-1] == TrialRecord(3, {"a": "y", "b": 0}, TrialState.RUNNING, source="llm")
    (last,) = make_proposer(name, OBJECTIVE, seed=0).propose(tiny, pending, 1)
    assert last.params == {"a": "y", "b": 1}
    with pytest.raises(SpaceExhausted):
        make_proposer(name, OBJECTIVE, seed=0).propose(tiny, with_pending(pending, [last]), 1)
