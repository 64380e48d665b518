"""FieldError: paths joined in one place, the source named once, did-you-mean for near misses."""

import pickle

import pytest

from agenthpo.errors import FieldError, did_you_mean, join_path, prefixed, reject_unknown, unknown_name


def test_text_names_source_path_and_message():
    assert str(FieldError("space.lr.low", "-1 must be > 0", "spec.yaml")) == "spec.yaml: space.lr.low: -1 must be > 0"
    assert str(FieldError("", "expected a mapping")) == "expected a mapping"


def test_prefixes_are_added_from_the_inside_out():
    with pytest.raises(FieldError) as raised, prefixed("", "spec.yaml"), prefixed("space"), prefixed("lr"):
        raise FieldError("low", "-1 must be > 0")
    assert raised.value.path == "space.lr.low" and raised.value.source == "spec.yaml"
    assert raised.value.message == "-1 must be > 0"
    assert join_path("", "x") == "x" and join_path("a", "") == "a" and join_path("a", "b.c") == "a.b.c"


def test_an_inner_source_is_kept():
    with pytest.raises(FieldError) as raised, prefixed("specs[0]", "suite.yaml"):
        raise FieldError("budget.trials", "0 must be an integer >= 1", "spec.yaml")
    assert str(raised.value) == "spec.yaml: specs[0].budget.trials: 0 must be an integer >= 1"


def test_did_you_mean_only_for_a_near_miss():
    assert did_you_mean("budjet", ["budget", "seed"]) == " (did you mean 'budget'?)"
    assert did_you_mean("colour", ["budget", "seed"]) == ""
    assert did_you_mean(3, ["budget"]) == ""


def test_unknown_names_are_refused_by_their_path():
    with pytest.raises(FieldError) as raised:
        reject_unknown({"trials": 3, "max_failed_trails": 2}, {"trials", "max_failed_trials"}, "budget")
    assert raised.value.path == "budget.max_failed_trails"
    assert "did you mean 'max_failed_trials'?" in raised.value.message
    reject_unknown({"trials": 3}, {"trials"}, "budget")  # nothing unknown: no error
    error = unknown_name("proposer", "tpee", ["tpe", "random"], what="proposer")
    assert error.path == "proposer" and "unknown proposer 'tpee' (did you mean 'tpe'?)" in error.message


def test_it_crosses_processes():
    error = pickle.loads(pickle.dumps(FieldError("a.b", "bad", "f.yaml")))
    assert (error.path, error.message, error.source) == ("a.b", "bad", "f.yaml")
