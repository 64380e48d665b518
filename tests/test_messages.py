"""The step messages: each checks itself, and JSON there and back gives the same message."""

import json

import pytest

from agenthpo.errors import FieldError
from agenthpo.messages import Analyzed, BestTrial, Reported, Round, StopKind, StudyOpened, Trained, TrialConfig
from agenthpo.trial import Proposal, TrialState

PROPOSAL = Proposal({"x": 0.5, "kind": "a"}, "tpe", "why not", metrics={"llm/creator_llm_calls": 1.0},
                    tags={"repair": "none"})
CONFIG = TrialConfig("s1", TrialState.PROPOSED, 3, "t3", PROPOSAL)


@pytest.mark.parametrize("message", [
    StudyOpened("s1", 2, 1),
    CONFIG,
    TrialConfig.stopped("s1", "budget of 3 trials used"),
    Round("s1", (CONFIG, TrialConfig("s1", TrialState.PROPOSED, 4, "t4", PROPOSAL))),
    Round("s1", stop=StopKind.FAILURES, reason="3 trials failed"),
    Trained(TrialState.FINISHED, 3, "t3", value=0.75, train_seconds=1.5),
    Trained(TrialState.FAILED, 3, "t3", error="ValueError: boom"),
    Trained(TrialState.STOPPED, reason="budget used"),
    Analyzed(TrialState.FINISHED, 3, "still improving", "a note"),
    Reported("s1", "# report", {"study/trials_finished": 3.0}, BestTrial(2, 0.9, {"x": 0.1}), ""),
])
def test_json_round_trip(message):
    data = json.loads(json.dumps(message.to_json()))
    assert type(message).from_json(data) == message


def test_a_round_reads_its_slots_and_stops_the_ones_it_did_not_fill():
    round_ = Round("s1", (CONFIG,))
    assert round_.slot(0) is CONFIG
    spare = round_.slot(1)
    assert spare.state == TrialState.STOPPED and not spare.proposed and "slot 1" in spare.reason
    stopped = Round("s1", stop="budget", reason="budget of 3 trials used")
    assert stopped.stop is StopKind.BUDGET and stopped.slot(0).reason == "budget of 3 trials used"


@pytest.mark.parametrize("build, path", [
    (lambda: TrialConfig("s1", TrialState.PROPOSED, 1, "", PROPOSAL), "proposal"),
    (lambda: TrialConfig("s1", TrialState.PROPOSED, 0, "t", PROPOSAL), "number"),
    (lambda: TrialConfig("s1", "FINISHED"), "state"),
    (lambda: TrialConfig("s1", "DONE"), "state"),
    (lambda: Round("s1"), "configs"),
    (lambda: Round("s1", (CONFIG,), stop="budget"), "configs"),
    (lambda: Trained(TrialState.FINISHED, 1, "t", value=float("nan")), "value"),
    (lambda: Trained(TrialState.PROPOSED), "state"),
    (lambda: StudyOpened(""), "study_id"),
])
def test_a_malformed_message_fails_naming_its_field(build, path):
    with pytest.raises(FieldError) as raised:
        build()
    assert raised.value.path == path


def test_a_bad_proposal_inside_a_round_is_named_by_its_path():
    data = Round("s1", (CONFIG,)).to_json()
    data["configs"][0]["proposal"]["source"] = "oracle"
    with pytest.raises(FieldError) as raised:
        Round.from_json(data)
    assert raised.value.path == "configs[0].proposal.source" and "'oracle' is not one of" in str(raised.value)


def test_trial_states_that_count_against_the_budget():
    assert {s for s in TrialState if s.counts_against_budget} == {TrialState.FINISHED, TrialState.FAILED,
                                                                  TrialState.PRUNED}
