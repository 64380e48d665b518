import json

import numpy as np
import pytest

from agenthpo.errors import FieldError
from agenthpo.space import CategoricalParam, FloatParam, IntParam, OrdinalParam, SearchSpace, param_from_json


def space() -> SearchSpace:
    return SearchSpace([
        FloatParam("learning_rate", 1e-5, 0.1, log=True),
        FloatParam("dropout", 0.0, 0.5),
        IntParam("layers", 1, 8),
        IntParam("hidden", 16, 1024, log=True),
        CategoricalParam("optimizer", ("adam", "sgd")),
        OrdinalParam("batch_size", (16, 32, 64, 128)),
    ])


def test_error_names_parameter_and_value():
    with pytest.raises(ValueError, match=r"learning_rate: 0\.5 outside \[1e-05, 0\.1\]"):
        space().param("learning_rate").validate(0.5)
    with pytest.raises(ValueError, match=r"layers: 2\.5 is not an integer"):
        space().param("layers").validate(2.5)
    with pytest.raises(ValueError, match=r"optimizer: 'rmsprop' is not one of \['adam', 'sgd'\]"):
        space().param("optimizer").validate("rmsprop")
    with pytest.raises(ValueError, match=r"dropout: '0.1' is not a number"):
        space().param("dropout").validate("0.1")


@pytest.mark.parametrize("bad, message", [
    (dict(name="lr", low=0.0, high=1.0, log=True), r"lr\.low: 0\.0 must be > 0 on a log scale"),
    (dict(name="lr", low=1.0, high=0.5), r"lr\.low: 1\.0 is greater than high=0\.5"),
    (dict(name="lr", low=float("nan"), high=0.5), r"lr\.low: nan must be a finite number"),
])
def test_float_param_rejects_bad_bounds(bad, message):
    with pytest.raises(ValueError, match=message):
        FloatParam(**bad)


def test_int_param_needs_integer_bounds_and_choices_must_be_distinct():
    with pytest.raises(ValueError, match=r"depth\.high: 3\.5 must be an integer"):
        IntParam("depth", 1, 3.5)
    with pytest.raises(ValueError, match=r"opt\.choices\[1\]: 'adam' is listed twice"):
        CategoricalParam("opt", ("adam", "adam"))
    with pytest.raises(ValueError, match=r"flag\.choices\[1\]: 1\.0 is listed twice"):
        CategoricalParam("flag", (1, 1.0))


def test_validate_coerces_and_keeps_bool_apart_from_int():
    assert IntParam("n", 1, 5).validate(3.0) == 3 and isinstance(IntParam("n", 1, 5).validate(3.0), int)
    with pytest.raises(ValueError):
        CategoricalParam("flag", (True, False)).validate(1)
    with pytest.raises(ValueError, match="is not a number"):
        FloatParam("x", 0, 1).validate(True)


def test_space_validate_reports_missing_and_unknown():
    s = space()
    good = s.sample(np.random.default_rng(0))
    assert s.validate(good) == good
    with pytest.raises(ValueError, match=r"missing \['dropout'\]"):
        s.validate({k: v for k, v in good.items() if k != "dropout"})
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['momentum'\]"):
        s.validate({**good, "momentum": 0.9})


def test_sampling_is_seeded_and_inside_the_space():
    s = space()
    a = [s.sample(np.random.default_rng(7)) for _ in range(3)]
    b = [s.sample(np.random.default_rng(7)) for _ in range(3)]
    assert a == b
    rng = np.random.default_rng(1)
    draws = [s.sample(rng) for _ in range(2000)]
    for d in draws:
        s.validate(d)
    lrs = np.log10([d["learning_rate"] for d in draws])
    # Log scale: about a fifth of the draws in each decade of [1e-5, 1e-1].
    assert 0.15 < np.mean(lrs < -4) < 0.25
    assert {d["batch_size"] for d in draws} == {16, 32, 64, 128}
    hidden = [d["hidden"] for d in draws]
    assert min(hidden) >= 16 and max(hidden) <= 1024 and np.median(hidden) < 300


def test_json_round_trip_and_schema():
    s = space()
    text = json.dumps(s.to_json())
    assert SearchSpace.from_json(json.loads(text)) == s
    schema = s.json_schema()
    assert schema["required"] == s.names and schema["additionalProperties"] is False
    assert schema["properties"]["layers"] == {"type": "integer", "minimum": 1, "maximum": 8}
    assert schema["properties"]["optimizer"] == {"enum": ["adam", "sgd"]}
    assert schema["properties"]["learning_rate"]["type"] == "number"


@pytest.mark.parametrize("data, message", [
    ({"type": "float", "low": 0}, r"lr\.high: is required for type 'float'"),
    ({"type": "real", "low": 0, "high": 1}, r"lr\.type: 'real' is not one of"),
    ({"type": "float", "low": 0, "high": 1, "step": 0.1}, r"lr\.step: unknown field 'step'"),
    ({"type": "categorical", "choices": "adam"}, r"lr\.choices: 'adam' must be a list"),
    ({"type": "float", "low": "a", "high": 1}, r"lr\.low: 'a' must be a finite number"),
    ({"type": "int", "low": 1, "high": 4, "log": "yes"}, r"lr\.log: 'yes' must be true or false"),
])
def test_param_from_json_errors(data, message):
    with pytest.raises(ValueError, match=message):
        param_from_json("lr", data)


def test_duplicate_names_and_key():
    with pytest.raises(ValueError, match=r"\['x'\] appear more than once"):
        SearchSpace([FloatParam("x", 0, 1), IntParam("x", 0, 1)])
    s = SearchSpace([FloatParam("x", 0, 1)])
    assert s.key({"x": 0.1 + 0.2}) == s.key({"x": 0.3})


def test_unit_position_on_each_scale():
    assert FloatParam("x", 1e-4, 1e-2, log=True).to_unit(1e-3) == pytest.approx(0.5)
    assert IntParam("n", 0, 10).to_unit(5) == 0.5 and FloatParam("c", 2.0, 2.0).to_unit(2.0) == 0.5
    assert FloatParam("x", 0.0, 1.0).describe() == "float in [0.0, 1.0]"
    assert IntParam("n", 1, 64, log=True).describe() == "integer in [1, 64], log scale"


# -- FieldError: paths relative to the space, never recovered from the message ------------------------

def test_errors_are_field_errors_with_paths_relative_to_the_space():
    with pytest.raises(FieldError) as raised:
        FloatParam(name="lr", low=-1, high=1, log=True)
    assert (raised.value.path, raised.value.message) == (
        "lr.low", "-1 must be > 0 on a log scale (make low positive, or set log: false)")
    with pytest.raises(FieldError) as raised:
        space().param("learning_rate").validate(0.5)
    assert raised.value.path == "learning_rate" and raised.value.message.startswith("0.5 outside [1e-05, 0.1]; ")
    assert isinstance(raised.value, ValueError)  # callers that catch ValueError keep working


@pytest.mark.parametrize("config, path", [
    ({"learning_rate": 1.0}, "learning_rate"),  # out of range
    ({"dropot": 0.1}, "dropot"),  # unknown
    ({"optimizer": "adamw"}, "optimizer"),  # not a choice
])
def test_space_validate_names_the_parameter_as_path(config, path):
    good = space().sample(np.random.default_rng(0))
    with pytest.raises(FieldError) as raised:
        space().validate({**good, **config})
    assert raised.value.path == path
    missing = {k: v for k, v in good.items() if k != "layers"}
    with pytest.raises(FieldError, match=r"^layers: is required"):
        space().validate(missing)


def test_typos_get_a_did_you_mean():
    with pytest.raises(FieldError) as raised:
        param_from_json("lr", {"type": "flaot", "low": 0, "high": 1})
    assert raised.value.path == "lr.type" and "(did you mean 'float'?)" in raised.value.message
    with pytest.raises(FieldError) as raised:
        param_from_json("lr", {"type": "float", "low": 0, "high": 1, "logg": True})
    assert raised.value.path == "lr.logg" and "(did you mean 'log'?)" in raised.value.message
    with pytest.raises(FieldError, match=r"^opt: 'adma' is not one of .*\(did you mean 'adam'\?\)"):
        CategoricalParam("opt", ("adam", "sgd")).validate("adma")
    with pytest.raises(FieldError, match=r"^dropot: unknown parameter.*\(did you mean 'dropout'\?\)"):
        space().validate({**space().sample(np.random.default_rng(0)), "dropot": 0.1})


def test_names_that_look_like_message_text_keep_their_paths():
    # The old spec parser split messages on ':' and '='; names holding them must not confuse a path.
    with pytest.raises(FieldError) as raised:
        SearchSpace.from_json({"x=1": {"type": "float", "low": 2.0, "high": 1.0}})
    assert raised.value.path == "x=1.low"
    with pytest.raises(FieldError) as raised:
        SearchSpace.from_json({"a: b": {"type": "int", "low": 1, "high": 2.5}})
    assert raised.value.path == "a: b.high"
    with pytest.raises(FieldError) as raised:
        CategoricalParam("c", "abc")
    assert raised.value.path == "c.choices"


# -- limits (agenthpo.limits): no bound, choice or name that a sampler, a proposal step or MLflow cannot take -----

@pytest.mark.parametrize("data, path, text", [
    ({"type": "int", "low": 0, "high": 10**30}, "n.high", "outside the 64-bit integer range"),
    ({"type": "int", "low": -(2**63), "high": 0}, "n.low", "outside the 64-bit integer range"),
    ({"type": "int", "low": 0, "high": 1e30}, "n.high", "must be an integer"),
    ({"type": "float", "low": -1e308, "high": 1e308}, "n.low", "|x| <= 1e+15"),
    ({"type": "float", "low": 0.0, "high": 10**400}, "n.high", "|x| <= 1e+15"),
    ({"type": "float", "low": 0.0, "high": float("inf")}, "n.high", "must be a finite number"),
    ({"type": "float", "low": 1e-3, "high": 1.0000001e15, "log": True}, "n.high", "|x| <= 1e+15"),
    ({"type": "categorical", "choices": list(range(1001))}, "n.choices", "1-1,000"),
    ({"type": "categorical", "choices": ["a", "b" * 251]}, "n.choices[1]", "at most 250"),
    ({"type": "ordinal", "choices": [1.0, float("nan")]}, "n.choices[1]", "finite number"),
    ({"type": "ordinal", "choices": [1, 2**64]}, "n.choices[1]", "64-bit"),
])
def test_bounds_and_choices_are_limited(data, path, text):
    with pytest.raises(FieldError) as raised:
        param_from_json("n", data)
    assert raised.value.path == path and text in raised.value.message, str(raised.value)


def test_the_limits_themselves_are_accepted_and_sampled():
    rng = np.random.default_rng(0)
    widest = SearchSpace([IntParam("n", -(2**63) + 1, 2**63 - 1), IntParam("m", 1, 2**63 - 1, log=True),
                          FloatParam("x", -1e15, 1e15), FloatParam("y", 1e-300, 1e15, log=True)])
    for _ in range(50):
        assert widest.validate(widest.sample(rng))
    assert 0.0 <= widest.param("x").to_unit(3.0) <= 1.0


def test_huge_proposed_values_are_refused_not_overflowed():
    # An LLM may answer 10**400: it is outside the range, never an OverflowError.
    for param in (FloatParam("x", 0.0, 1.0), IntParam("n", 0, 9)):
        with pytest.raises(FieldError, match="outside"):
            param.validate(10**400)
    assert IntParam("n", 0, 9).validate(3.0) == 3 and FloatParam("x", 0.0, 1.0).validate(1) == 1.0


@pytest.mark.parametrize("name, text", [
    ("lr=1", "holds ['=']"),
    ("a:b", "holds [':']"),
    ("héllo", "holds ['é']"),
    ("x" * 251, "1-250 characters"),
    ("", "1-250 characters"),
    ("../lr", "normalises"),
    ("a//b", "normalises"),
    ("/lr", "normalises"),
    ("lr/", "normalises"),
    (" lr", "leading and trailing spaces"),
    ("agenthpo.state", "starts with 'agenthpo'"),
])
def test_names_mlflow_refuses_or_the_project_uses_are_refused(name, text):
    with pytest.raises(FieldError) as raised:
        SearchSpace.from_json({name: {"type": "float", "low": 0.0, "high": 1.0}})
    assert raised.value.path == name and text in raised.value.message, str(raised.value)


def test_names_mlflow_accepts_are_kept_and_those_it_refuses_are_refused():
    from mlflow.exceptions import MlflowException
    from mlflow.utils.validation import MAX_ENTITY_KEY_LENGTH, _validate_param_name

    names = ["learning_rate", "model.dropout", "encoder/layers", "batch size", "x-1", "L" * MAX_ENTITY_KEY_LENGTH]
    assert SearchSpace.from_json({n: {"type": "int", "low": 0, "high": 1} for n in names}).names == names
    for name in names:
        _validate_param_name(name)  # MLflow's own check: raises for a name it would refuse
    for name in ["lr=1", "a,b", "x\ny", "../lr", "a//b", "/lr", "lr/", "./lr"]:
        with pytest.raises(MlflowException):
            _validate_param_name(name)
        with pytest.raises(FieldError):
            SearchSpace.from_json({name: {"type": "int", "low": 0, "high": 1}})


def test_a_space_has_at_most_100_parameters():
    with pytest.raises(FieldError, match="101 parameters: a search space has 1-100"):
        SearchSpace.from_json({f"p{i}": {"type": "int", "low": 0, "high": 1} for i in range(101)})
