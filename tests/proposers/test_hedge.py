"""The agent's hedge (agenthpo.proposers.hedge): credits, the stall rule and the decision, on hand-made
histories whose credits are computed by hand."""

import pytest

from agenthpo.proposers.hedge import (
    CREATOR,
    CREDIT_WINDOW,
    MODEL,
    STALL_FLOOR,
    STALL_TRIALS,
    Credit,
    arm_of,
    credits,
    decide,
    stalled,
)
from agenthpo.trial import Objective, TrialRecord, TrialState

MAXIMIZE, MINIMIZE = Objective("score", "maximize"), Objective("score", "minimize")


def trials(*rows) -> list[TrialRecord]:
    """(source, value) rows as finished trials numbered from 1; a value of None is a FAILED trial."""
    return [TrialRecord(i, {"x": float(i)}, TrialState.FINISHED, value, source=source) if value is not None
            else TrialRecord(i, {"x": float(i)}, TrialState.FAILED, source=source, error="boom")
            for i, (source, value) in enumerate(rows, 1)]


def values(history, objective):
    credit, finished = credits(history, objective)
    return credit[CREATOR].value, credit[MODEL].value, finished


def test_credit_is_the_mean_of_a_beta_prior():
    assert Credit().value == 0.5
    assert Credit().add(0.0).value == pytest.approx(1 / 3)
    assert Credit().add(1.0).add(0.5).value == pytest.approx(2.5 / 4)


@pytest.mark.parametrize("source, arm", [("llm", CREATOR), ("gp", MODEL), ("tpe", MODEL), ("fallback", MODEL),
                                         ("random", None), ("start", None), ("", None)])
def test_arm_of(source, arm):
    assert arm_of(trials((source, 1.0))[0]) == arm


# Rule 1: no trial of either arm has finished.

@pytest.mark.parametrize("history", [
    [],
    trials(("start", 1.0)),
    trials(("start", 1.0), ("random", 2.0), ("random", 0.5)),
    trials(("random", 1.0), ("llm", None), ("gp", None)),  # failed trials of both arms are not finished ones
])
@pytest.mark.parametrize("objective", [MAXIMIZE, MINIMIZE])
def test_before_either_arm_has_a_result_the_creator_proposes(history, objective):
    decision = decide(history, objective)
    assert decision.arm == CREATOR
    assert "no trial of either side has finished" in decision.reason
    assert values(history, objective) == (0.5, 0.5, {CREATOR: 0, MODEL: 0})


# Rule 2: each arm is tried once before the results decide.

@pytest.mark.parametrize("done, other", [("llm", MODEL), ("gp", CREATOR), ("tpe", CREATOR), ("fallback", CREATOR)])
@pytest.mark.parametrize("value", [-5.0, 5.0])  # whether the arm's trial won or lost does not matter yet
def test_the_arm_without_a_finished_trial_proposes(done, other, value):
    history = trials(("start", 0.0), (done, value), (done, value + 1))
    decision = decide(history, MAXIMIZE)
    assert decision.arm == other
    assert f"the {other} none" in decision.reason
    assert "2 finished trials" in decision.reason


def test_a_failed_trial_does_not_count_as_the_arm_being_tried():
    history = trials(("gp", 1.0), ("llm", None), ("gp", 2.0), ("llm", None))
    assert decide(history, MAXIMIZE).arm == CREATOR


# Online credit.

@pytest.mark.parametrize("objective, credit", [(MAXIMIZE, 1 / 3), (MINIMIZE, 2 / 3)])
def test_the_first_trial_is_scored_against_the_second(objective, credit):
    # Maximizing, the first trial (1.0) lost its duel with the second (2.0): one lost duel is 1/3.
    history = trials(("llm", 1.0), ("random", 2.0))
    creator, model, finished = values(history, objective)
    assert creator == pytest.approx(credit)
    assert model == 0.5 and finished == {CREATOR: 1, MODEL: 0}


def test_a_lone_first_trial_is_not_scored():
    credit, finished = credits(trials(("llm", 1.0)), MAXIMIZE)
    assert credit[CREATOR] == Credit() and finished[CREATOR] == 1


def test_a_trial_is_scored_against_every_earlier_one_start_and_random_included():
    history = trials(("start", 1.0), ("random", 3.0), ("gp", 2.0))
    credit, _ = credits(history, MAXIMIZE)
    assert credit[MODEL] == Credit(1, 0.5)  # beat 1.0, lost to 3.0
    assert credit[CREATOR] == Credit()


# 1 llm 0.5 | 2 gp 0.7 | 3 llm 0.6 | 4 tpe 0.4
# maximize: llm 0 (vs 0.7), gp 1 (vs 0.5), llm 1/2 (vs 0.5, 0.7), tpe 0 (vs 0.5, 0.7, 0.6)
#   Creator (1 + 0.5) / 4 = 0.375, model (1 + 1) / 4 = 0.5
# minimize: llm 1, gp 0, llm 1/2, tpe 1: Creator (1 + 1.5) / 4 = 0.625, model (1 + 1) / 4 = 0.5
FOUR = (("llm", 0.5), ("gp", 0.7), ("llm", 0.6), ("tpe", 0.4))


@pytest.mark.parametrize("objective, creator, model, winner", [
    (MAXIMIZE, 0.375, 0.5, MODEL),
    (MINIMIZE, 0.625, 0.5, CREATOR),
])
def test_credits_by_hand(objective, creator, model, winner):
    history = trials(*FOUR)
    credit, finished = credits(history, objective)
    assert credit[CREATOR].value == pytest.approx(creator) and credit[CREATOR].scored == 2
    assert credit[MODEL].value == pytest.approx(model) and credit[MODEL].scored == 2
    assert finished == {CREATOR: 2, MODEL: 2}
    decision = decide(history, objective)
    assert decision.arm == winner
    assert "its credit is the higher" in decision.reason
    assert f"Creator {creator:.2f} over 2 scored trials, model {model:.2f} over 2 scored trials" in decision.reason


def test_failed_trials_are_ignored_by_credit():
    plain = trials(*FOUR)
    with_failures = trials(("llm", None), FOUR[0], ("gp", None), FOUR[1], FOUR[2], ("llm", None), FOUR[3],
                           ("tpe", None))
    for objective in (MAXIMIZE, MINIMIZE):
        assert credits(with_failures, objective) == credits(plain, objective)
        assert decide(with_failures, objective).arm == decide(plain, objective).arm


def test_trials_are_scored_in_order_of_their_numbers_not_of_the_list():
    history = trials(*FOUR)
    assert credits(list(reversed(history)), MAXIMIZE) == credits(history, MAXIMIZE)


def test_fallback_trials_count_as_the_model():
    as_tpe = trials(*FOUR)
    as_fallback = trials(*[("fallback" if s == "tpe" else s, v) for s, v in FOUR])
    assert credits(as_fallback, MAXIMIZE) == credits(as_tpe, MAXIMIZE)
    assert decide(as_fallback, MAXIMIZE).arm == MODEL


def test_ties_score_half_and_equal_credits_go_to_the_creator():
    history = trials(("llm", 0.5), ("gp", 0.5))
    credit, _ = credits(history, MAXIMIZE)
    assert credit[CREATOR] == credit[MODEL] == Credit(1, 0.5)
    decision = decide(history, MAXIMIZE)
    assert decision.arm == CREATOR and "ties go to the Creator" in decision.reason


# Rule 3: the stall.

def stall_history(trusted: str, other: str, last: float = 0.45):
    """Minimizing: the trusted arm found 0.1 on trial 3, then its last four did not improve it; the other
    arm's one trial tied (credit 0.5). Scores of the trusted arm: 1/2, 1, 2/3, 2/4, 2/5, 2/6; its latest
    five (CREDIT_WINDOW) count: (1 + 2.9) / 7 = 0.557."""
    return trials((trusted, 0.5), (other, 0.5), (trusted, 0.1), (trusted, 0.2), (trusted, 0.3), (trusted, 0.4),
                  (trusted, last))


@pytest.mark.parametrize("trusted, other, arm, stand_in", [("llm", "gp", CREATOR, MODEL),
                                                             ("gp", "llm", MODEL, CREATOR),
                                                             ("tpe", "llm", MODEL, CREATOR)])
def test_a_stalled_trusted_arm_gives_the_other_one_slot(trusted, other, arm, stand_in):
    history = stall_history(trusted, other)
    credit, _ = credits(history, MINIMIZE)
    assert credit[arm].value == pytest.approx(3.9 / 7) and credit[stand_in].value == pytest.approx(0.5)
    assert stalled(history, MINIMIZE, arm) and not stalled(history, MINIMIZE, stand_in)
    decision = decide(history, MINIMIZE)
    assert decision.arm == stand_in
    assert f"last {STALL_TRIALS} trials did not improve the best" in decision.reason


@pytest.mark.parametrize("trusted, other, arm", [("llm", "gp", CREATOR), ("gp", "llm", MODEL)])
def test_no_stall_when_the_last_trial_improved_the_best(trusted, other, arm):
    history = stall_history(trusted, other, last=0.05)
    assert not stalled(history, MINIMIZE, arm)
    assert decide(history, MINIMIZE).arm == arm


def test_no_stall_when_another_trial_is_among_the_last_three():
    history = stall_history("llm", "gp")
    history[4] = TrialRecord(5, history[4].params, TrialState.FINISHED, 0.3, source="random")
    assert not stalled(history, MINIMIZE, CREATOR)
    assert decide(history, MINIMIZE).arm == CREATOR


def test_no_stall_with_only_three_finished_trials():
    history = trials(("llm", 0.1), ("llm", 0.2), ("llm", 0.3))
    assert not stalled(history, MINIMIZE, CREATOR)


def test_failed_trials_do_not_break_a_stall():
    history = stall_history("llm", "gp")
    history = [*history[:5], TrialRecord(99, {"x": 99.0}, TrialState.FAILED, source="gp"), *history[5:]]
    history = [TrialRecord(i, t.params, t.state, t.value, source=t.source, error=t.error)
               for i, t in enumerate(history, 1)]
    assert stalled(history, MINIMIZE, CREATOR)
    assert decide(history, MINIMIZE).arm == MODEL


@pytest.mark.parametrize("objective, values_", [(MINIMIZE, (1.0, 0.5, 0.6, 0.7, 0.8, 0.9)),
                                                (MAXIMIZE, (-1.0, -0.5, -0.6, -0.7, -0.8, -0.9))])
def test_a_stall_does_not_bring_back_a_creator_whose_one_pick_lost(objective, values_):
    # The Creator's one trial lost its duel with the model's first (credit 1/3, not above STALL_FLOOR).
    history = trials(("llm", values_[0]), *(("gp", v) for v in values_[1:]))
    credit, _ = credits(history, objective)
    assert credit[CREATOR].value == pytest.approx(1 / 3) and credit[CREATOR].value <= STALL_FLOOR
    assert stalled(history, objective, MODEL)  # the stall is there: the floor is what keeps the model
    decision = decide(history, objective)
    assert decision.arm == MODEL and "its credit is the higher" in decision.reason


@pytest.mark.parametrize("objective, values_", [(MINIMIZE, (1.0, 0.5, 0.6, 0.7, 0.8, 0.9)),
                                                (MAXIMIZE, (-1.0, -0.5, -0.6, -0.7, -0.8, -0.9))])
def test_a_stalled_creator_always_gives_the_model_a_slot(objective, values_):
    # The model's one pick lost (credit 1/3), but the model is the safe side: a stalled Creator is checked.
    history = trials(("gp", values_[0]), *(("llm", v) for v in values_[1:]))
    credit, _ = credits(history, objective)
    assert credit[MODEL].value == pytest.approx(1 / 3) and credit[MODEL].value < credit[CREATOR].value
    decision = decide(history, objective)
    assert decision.arm == MODEL and f"last {STALL_TRIALS} trials did not improve the best" in decision.reason


def test_credit_follows_the_latest_trials_only():
    # The Creator won its first three picks, then lost five in a row: only the losses are in its window.
    losses = (("llm", 0.9 + i / 100) for i in range(5))
    history = trials(("llm", 0.5), ("gp", 0.6), ("llm", 0.1), ("llm", 0.05), *losses)
    credit, finished = credits(history, MINIMIZE)
    assert finished[CREATOR] == 8 and credit[CREATOR].scored == CREDIT_WINDOW
    assert credit[CREATOR].value == pytest.approx((1 + 0.0 + 0.0 + 0.0 + 0.0 + 0.0) / (2 + CREDIT_WINDOW))


def test_a_pruned_trial_is_scored_as_the_middle_of_the_lower_half():
    from agenthpo.proposers.hedge import PRUNED_SCORE

    history = [*trials(("llm", 1.0), ("gp", 0.0)),
               TrialRecord(3, {"x": 3.0}, TrialState.PRUNED, source="llm", pruned_step=2, pruned_reason="below")]
    credit, finished = credits(history, MAXIMIZE)
    assert finished == {CREATOR: 2, MODEL: 1}
    # The Creator: trial 1 beat trial 2 (1.0), trial 3 was pruned (0.25).
    assert credit[CREATOR].value == pytest.approx((1 + 1.0 + PRUNED_SCORE) / (2 + 2))
