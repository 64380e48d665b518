"""One way from a Creator answer to proposals (proposers/creator_answer.py), shared by `llm` and `agent`."""

import pytest

from agenthpo.agents.creator import CreatorResult
from agenthpo.llm.client import Usage
from agenthpo.proposers.creator_answer import (
    NO_RATIONALE,
    answer_tags,
    call_cost,
    creator_proposals,
    fallback_proposals,
)
from agenthpo.trial import Proposal

USAGE = Usage(calls=2, prompt_tokens=300, completion_tokens=60, seconds=4.0)


def test_the_creators_configurations_become_llm_proposals():
    result = CreatorResult([({"x": 1}, "near the best"), ({"x": 2}, "")], ["config 3: x outside [0, 5]"], USAGE,
                           repaired=True)
    first, second = creator_proposals(result, share=2)
    assert (first.source, first.rationale, second.rationale) == ("llm", "near the best", NO_RATIONALE)
    assert first.tags == {"repair": "repaired", "llm_problems": "config 3: x outside [0, 5]", "llm_quality": "ok"}
    assert first.metrics == {"llm/creator_llm_calls": 1.0, "llm/creator_prompt_tokens": 150.0,
                             "llm/creator_completion_tokens": 30.0, "llm/creator_llm_seconds": 2.0}
    clean = creator_proposals(CreatorResult([({"x": 1}, "r")], [], USAGE), share=1)[0]
    assert clean.tags == {"repair": "none", "llm_problems": "-", "llm_quality": "ok"}


@pytest.mark.parametrize("rationale, problem", [
    ("I'm ready to help. What is the task and problem?", "a refusal or greeting"),
    ("This looks like a promising region to explore next.", "names no hyperparameter or metric"),
    ("Raise x: trial 3 had f1 0.77 with a 96.9% chance of winning.", "cites numbers not in its data"),
])
def test_a_rationale_that_does_not_speak_about_the_study_is_set_aside(rationale, problem):
    result = CreatorResult([({"x": 4}, rationale)], [], USAGE, prompt="#3 (tpe) x=2: f1=0.61", names=("x", "f1"))
    proposal = creator_proposals(result, share=1)[0]
    assert proposal.tags["llm_quality"].startswith("flagged: rationale: ") and problem in proposal.tags["llm_quality"]
    assert rationale not in proposal.rationale
    assert proposal.rationale.startswith("(the Creator's rationale was set aside")


def test_a_rationale_citing_the_log_is_kept():
    rationale = "Trial 3 reached f1 0.61 with x=2; raise x to 4 as the Executor advised."
    result = CreatorResult([({"x": 4}, rationale)], [], USAGE, prompt="#3 (tpe) x=2: f1=0.61", names=("x", "f1"))
    proposal = creator_proposals(result, share=1)[0]
    assert (proposal.rationale, proposal.tags["llm_quality"]) == (rationale, "ok")


def test_stand_ins_say_why_the_llm_gave_too_few():
    result = CreatorResult([], [], USAGE, repaired=True, error="APITimeoutError from http://x after 1.0s")
    fillers = [Proposal({"x": 3}, "fallback", "Optuna TPE, startup (random), after 2 trials")]
    (stand_in,) = fallback_proposals(result, fillers, share=1)
    assert stand_in.source == "fallback" and stand_in.params == {"x": 3}
    assert stand_in.rationale == ("LLM answer unusable (APITimeoutError from http://x after 1.0s); "
                                  "Optuna TPE, startup (random), after 2 trials")
    assert stand_in.tags == {"repair": "fallback", "llm_problems": "APITimeoutError from http://x after 1.0s"}
    assert stand_in.metrics["llm/creator_llm_calls"] == 2.0
    quiet = fallback_proposals(CreatorResult([], [], Usage()), fillers, share=1)[0]
    assert "too few configurations" in quiet.rationale


def test_a_calls_cost_is_shared_by_the_proposals_chosen_and_its_tags_follow_them():
    result = CreatorResult([({"x": 1}, "a")], ["config 2 repeats a configuration"], USAGE)
    from_call = creator_proposals(result, 4) + fallback_proposals(result, [Proposal({"x": 2}, "tpe")] * 3, 4)
    assert call_cost(from_call, 1) == pytest.approx(USAGE.to_metrics("creator"))
    assert call_cost(from_call, 2)["llm/creator_prompt_tokens"] == pytest.approx(150.0)
    assert answer_tags(from_call) == {"repair": "none", "llm_problems": "config 2 repeats a configuration"}
    assert answer_tags(from_call[1:])["repair"] == "fallback"
    assert answer_tags([]) == {}
