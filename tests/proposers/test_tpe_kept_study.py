"""TPE keeps its Optuna study between calls and adds only the trials that ended since; its proposals are
those of a full replay of the same history (issue 14)."""

import math

import pytest

from agenthpo.proposers import tpe
from agenthpo.proposers.base import SpaceExhausted
from agenthpo.space import CategoricalParam, FloatParam, IntParam, OrdinalParam, SearchSpace
from agenthpo.trial import Objective, TrialRecord, TrialState

SPACE = SearchSpace([FloatParam("lr", 1e-4, 1.0, log=True), IntParam("layers", 1, 6),
                     OrdinalParam("batch", (16, 32, 64)), CategoricalParam("act", ("relu", "tanh"))])
OBJECTIVE = Objective("score", "minimize")


def score(config) -> float:
    return (math.log10(config["lr"]) + 2) ** 2 + abs(config["layers"] - 3) + (config["act"] == "tanh")


def record(number: int, config, state=TrialState.FINISHED) -> TrialRecord:
    value = score(config) if state == TrialState.FINISHED else None
    return TrialRecord(number, config, state, value, source="tpe", run_id=f"run-{number}")


def fresh(proposer, history, n):
    tpe._REPLAYS.clear()
    return proposer.propose(SPACE, history, n)


@pytest.mark.parametrize("n", [1, 3])
def test_a_kept_study_proposes_what_a_full_replay_proposes(n):
    proposer = tpe.TPEProposer(OBJECTIVE, seed=7, n_startup_trials=4)
    tpe._REPLAYS.clear()
    history = []
    for number in range(1, 31):
        kept = proposer.propose(SPACE, history, n)
        assert [p.params for p in kept] == [p.params for p in fresh(proposer, history, n)]
        # fresh() dropped the kept study: keep one again for the next call, from the same history.
        proposer.propose(SPACE, history, n)
        state = (TrialState.FAILED if number % 7 == 0 else TrialState.PRUNED if number % 5 == 0
                 else TrialState.FINISHED)
        history.append(record(number, dict(kept[0].params), state))
    (study,) = [r.study for r in tpe._REPLAYS.values()]
    # Only ended trials stay in the kept study as results; the asked ones were told FAIL.
    assert sum(t.state.name == "COMPLETE" for t in study.get_trials(deepcopy=False)) == sum(
        t.state == TrialState.FINISHED for t in history)


def test_a_trial_that_ends_out_of_order_replays_afresh():
    proposer = tpe.TPEProposer(OBJECTIVE, seed=3, n_startup_trials=2)
    configs = [p.params for p in fresh(proposer, [], 6)]
    history = [record(i + 1, dict(c)) for i, c in enumerate(configs)]
    running = [history[0], history[1], TrialRecord(3, configs[2], TrialState.RUNNING, run_id="run-3"), *history[3:]]
    proposer.propose(SPACE, running, 1)
    # Trial 3 ended after 4-6: the kept study (1, 2, 4, 5, 6) is not a prefix of (1, ..., 6).
    assert [p.params for p in proposer.propose(SPACE, history, 2)] == [p.params for p in fresh(proposer, history, 2)]


def test_studies_do_not_share_a_kept_study():
    proposer = tpe.TPEProposer(OBJECTIVE, seed=1, n_startup_trials=1)
    configs = [p.params for p in fresh(proposer, [], 4)]
    mine = [record(i + 1, dict(c)) for i, c in enumerate(configs)]
    other = [TrialRecord(t.number, t.params, t.state, t.value + 1, run_id=f"other-{t.number}") for t in mine]
    proposer.propose(SPACE, mine, 1)
    assert [p.params for p in proposer.propose(SPACE, other, 1)] == [p.params for p in fresh(proposer, other, 1)]
    assert len(tpe._REPLAYS) == 1  # fresh() cleared them


def test_keep_study_warms_the_study_that_propose_then_uses():
    proposer = tpe.TPEProposer(OBJECTIVE, seed=5, n_startup_trials=2)
    configs = [p.params for p in fresh(proposer, [], 8)]
    history = [record(i + 1, dict(c)) for i, c in enumerate(configs)]
    tpe._REPLAYS.clear()
    tpe.keep_study(OBJECTIVE, SPACE, history)
    (kept,) = tpe._REPLAYS.values()
    assert kept.trained == 8
    warm = proposer.propose(SPACE, history, 2)
    assert list(tpe._REPLAYS.values()) == [kept] and kept.trained == 8  # nothing replayed again
    assert [p.params for p in warm] == [p.params for p in fresh(proposer, history, 2)]


def test_a_kept_study_never_proposes_a_configuration_already_tried():
    space = SearchSpace([IntParam("k", 1, 12)])

    def trial(number: int, k: int, value: float | None, state=TrialState.FINISHED) -> TrialRecord:
        return TrialRecord(number, {"k": k}, state, value, run_id=f"run-{number}")

    # k=12 scores best: TPE's first ask is k=12 again. Trials 1-3 ended before the study was kept, 4-5 after;
    # trial 6 runs.
    history = [trial(1, 12, 0.0), trial(2, 1, 5.0), trial(3, 2, 5.0), trial(4, 3, 5.0), trial(5, 11, 1.0),
               trial(6, 10, None, TrialState.RUNNING)]
    for seed in range(6):
        proposer = tpe.TPEProposer(OBJECTIVE, seed=seed, n_startup_trials=1)
        tpe._REPLAYS.clear()
        proposer.propose(space, history[:3], 1)
        proposed = [p.params["k"] for p in proposer.propose(space, history, 3)]
        assert len(set(proposed)) == 3 and not set(proposed) & {12, 1, 2, 3, 11, 10}, (seed, proposed)


def test_where_tpe_asks_only_tried_configurations_an_untried_one_is_drawn_at_random():
    # TPE's "good" trials are only k=a, tried: it asks k=a again and again, however often told it failed.
    space = SearchSpace([CategoricalParam("k", ("a", "b", "c", "d"))])
    history = [TrialRecord(1, {"k": "a"}, TrialState.FINISHED, 0.0, run_id="run-1"),
               TrialRecord(2, {"k": "b"}, TrialState.FINISHED, 9.0, run_id="run-2"),
               TrialRecord(3, {"k": "c"}, TrialState.FINISHED, 9.0, run_id="run-3")]
    tpe._REPLAYS.clear()
    (proposal,) = tpe.TPEProposer(OBJECTIVE, seed=0, n_startup_trials=1).propose(space, history, 1)
    assert proposal.params == {"k": "d"} and proposal.source == "tpe"
    assert "untried one drawn at random" in proposal.rationale
    every = [*history, TrialRecord(4, {"k": "d"}, TrialState.PRUNED, run_id="run-4")]
    with pytest.raises(SpaceExhausted, match="no untried configuration"):
        tpe.TPEProposer(OBJECTIVE, seed=0, n_startup_trials=1).propose(space, every, 1)
