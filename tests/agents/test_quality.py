"""Tests for agenthpo.agents.quality: LLM texts are checked before they are stored."""

from __future__ import annotations

import dataclasses

import pytest

from agenthpo.agents.quality import REFUSAL_PATTERNS, Quality, check_text, tag_value

NAMES = ["learning_rate", "weight_decay", "accuracy"]
DATA = '{"best_step": 12, "steps": 40, "worse_than_best": 0.03, "best_accuracy": 0.969, "val_loss": 0.4123}'
GOOD = (
    "Validation accuracy peaked at epoch 12 of 40 and then fell 3.0% while train kept rising: "
    "lower the learning_rate or raise weight_decay."
)


def numbers_problem(text: str, data: str = DATA) -> str | None:
    found = [p for p in check_text(text, names=NAMES, data=data).problems if p.startswith("cites numbers")]
    return found[0] if found else None


# --- Quality and tag_value ---------------------------------------------------------


def test_quality_ok_and_describe():
    assert Quality().ok
    assert Quality().describe() == "ok"
    q = Quality(("empty", "x"))
    assert not q.ok
    assert q.describe() == "empty; x"


def test_quality_is_frozen_and_hashable():
    q = Quality(("empty",))
    assert hash(q) == hash(Quality(("empty",)))
    assert {q, Quality(("empty",))} == {q}
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.problems = ()  # type: ignore[misc]


def test_tag_value_example_from_docstring():
    parts = {"rationale": Quality(), "executor": Quality(("a refusal or greeting",))}
    assert tag_value(parts) == "flagged: executor: a refusal or greeting"


def test_tag_value_all_ok_and_empty():
    assert tag_value({}) == "ok"
    assert tag_value({"rationale": Quality(), "analysis": Quality()}) == "ok"


def test_tag_value_prefixes_each_problem_in_order():
    parts = {
        "analysis": Quality(("empty",)),
        "rationale": Quality(),
        "executor": Quality(("a refusal or greeting", "cites numbers not in its data: 0.77")),
    }
    assert tag_value(parts) == (
        "flagged: analysis: empty; executor: a refusal or greeting; executor: cites numbers not in its data: 0.77"
    )


# --- the real texts a weak model wrote ----------------------------------------------


def test_real_final_analysis_greeting_is_flagged():
    q = check_text("I'm ready to help. What is the task and problem?", names=NAMES, data=DATA)
    assert not q.ok
    assert q.problems[0] == 'a refusal or greeting ("I\'m ready to help")'
    assert any(p.startswith("names no hyperparameter or metric") for p in q.problems)


def test_real_executor_invented_chance_is_flagged():
    text = "Lowering the learning_rate gives a 96.9% chance of winning the next trial."
    q = check_text(text, names=NAMES, data='{"best_step": 12, "steps": 40, "worse_than_best": 0.03}')
    assert q.problems == ("cites numbers not in its data: 96.9%",)


def test_real_repeated_answer_is_flagged():
    text = " ".join(["The learning rate should be lowered to improve accuracy."] * 40)
    q = check_text(text, names=NAMES)
    assert q.problems == ('repeats a sentence ("The learning rate should be lowered to improve accuracy") 40 times',)


def test_good_executor_text_is_ok():
    data = '{"best_step": 12, "steps": 40, "worse_than_best": 0.03}'
    q = check_text(GOOD, names=NAMES, data=data)
    assert q.ok, q.describe()
    assert q == Quality()


# --- individual checks ---------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_text(text):
    assert check_text(text, names=NAMES, data=DATA).problems == ("empty",)


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("I am ready to help with the learning_rate.", "I am ready to help"),
        ("How can I assist you with accuracy today?", "How can I assist"),
        ("Please provide the learning_rate values.", "Please provide"),
        ("As an AI, I think accuracy matters.", "As an AI"),
        ("As a language model I note the weight_decay.", "As a language model"),
        ("I cannot judge the learning_rate.", "I cannot"),
        ("I can't see the accuracy.", "I can't"),
        ("I am unable to read weight_decay.", "I am unable"),
        ("I'm sorry, accuracy is unknown.", "I'm sorry"),
        ("Hello! accuracy is fine.", "Hello"),
        ("Hi there, the learning_rate is fine.", "Hi there"),
        ("Sure, here is the accuracy analysis.", "Sure, here"),
        ("WHAT IS THE PROBLEM with accuracy?", "WHAT IS THE PROBLEM"),
    ],
)
def test_refusals_are_flagged_with_quote(text, quoted):
    assert check_text(text, names=NAMES).problems == (f'a refusal or greeting ("{quoted}")',)


def test_refusal_patterns_respect_word_boundaries():
    assert all(p.flags & 2 for p in REFUSAL_PATTERNS)  # re.IGNORECASE
    # "othello" and "shipping" contain "hello" / "hi" but are not greetings.
    assert check_text("Othello shows accuracy shipping well.", names=NAMES).ok


def test_names_missing_is_flagged():
    q = check_text("The model improved a lot over the run and then plateaued.", names=NAMES)
    assert len(q.problems) == 1
    assert q.problems[0].startswith("names no hyperparameter or metric")
    assert "learning_rate" in q.problems[0]


def test_names_not_required():
    text = "The model improved a lot over the run and then plateaued."
    assert check_text(text, names=NAMES, require_name=False).ok


@pytest.mark.parametrize(
    "text",
    [
        "Lower the learning rate next.",
        "Lower the Learning-Rate next.",
        "Lower the `learning_rate` next.",
        "Lower the LEARNING_RATE next.",
    ],
)
def test_name_variants_match(text):
    assert check_text(text, names=["learning_rate"]).ok


def test_short_name_not_matched_inside_words():
    q = check_text("It has already converged.", names=["lr"])
    assert q.problems and q.problems[0].startswith("names no hyperparameter")
    assert check_text("Halve the lr next.", names=["lr"]).ok
    assert check_text("Halve the `lr` next.", names=["lr"]).ok


def test_one_letter_name_only_as_whole_word():
    assert not check_text("The c_value and abc grew.", names=["C"]).ok
    assert check_text("Raise C to 3.", names=["C"]).ok


def test_repeated_sentence_is_flagged_with_count():
    text = "Accuracy rose early in the run.\nThen the loss fell.\naccuracy ROSE early in the run!"
    q = check_text(text, names=NAMES)
    assert q.problems == ('repeats a sentence ("Accuracy rose early in the run") 2 times',)


def test_different_sentences_are_not_repeats():
    text = (
        "Accuracy rose early in the run and then flattened out. "
        "Accuracy fell late in the run and then flattened out. "
        "Raise weight_decay for the next trial to fight overfitting."
    )
    assert check_text(text, names=NAMES).ok


def test_short_fragments_may_repeat():
    assert check_text("Accuracy: ok. Yes. Yes. Yes.", names=NAMES).ok


def test_decimal_points_do_not_split_sentences():
    # "0.03" must not become the fragments "fell by 0" and "03 then" etc.
    text = "Accuracy fell by 0.03 then rose. Accuracy fell by 0.04 then rose."
    assert check_text(text, names=NAMES).ok


# --- numbers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Accuracy reached 96.9% at best.",  # 0.969 in data as a percentage
        "Accuracy reached 0.969 at best.",
        "Accuracy worsened by 3.0% after the peak.",  # 0.03 in data
        "The loss was 41% for accuracy.",  # 0.4123 as a rounded percentage
        "The loss was 0.41 for accuracy.",  # 0.4123 at the text's precision
        "The loss was 0.412 for accuracy.",
        "The loss was 41.2% for accuracy.",
        "Accuracy peaked at step 12 of 40.",  # integers in data
    ],
)
def test_grounded_numbers_pass(text):
    assert numbers_problem(text) is None


def test_invented_number_is_flagged():
    assert numbers_problem("Accuracy reached 0.77 at best.") == "cites numbers not in its data: 0.77"


def test_precision_is_the_texts():
    # 0.413 is not 0.4123 rounded, but only 0.17% off it: rounding, not invention.
    # 0.42 is neither (1.9% off), so it is reported.
    assert numbers_problem("The loss was 0.413 for accuracy.") is None
    assert numbers_problem("The loss was 0.42 for accuracy.") == "cites numbers not in its data: 0.42"


def test_scientific_notation_is_read():
    assert numbers_problem("Use accuracy with lr 1e-3.", data='{"lr": 0.001}') is None
    assert numbers_problem("Use accuracy with lr 1e-3.", data='{"lr": 0.01}') == "cites numbers not in its data: 1e-3"


def test_small_integers_are_skipped():
    assert numbers_problem("Accuracy after 2 trials and 10 epochs, top 3.") is None
    assert numbers_problem("Accuracy after 11 epochs.") == "cites numbers not in its data: 11"


def test_identifiers_are_not_numbers():
    text = "The f1 and accuracy with l2_reg on x2 and resnet50 are fine."
    assert numbers_problem(text) is None


def test_numbers_not_checked_without_data():
    assert check_text("Accuracy reached 0.77 and 96.9%.", names=NAMES).ok


def test_ungrounded_numbers_listed_once_and_at_most_five():
    text = "Accuracy: 0.71, 0.72, 0.71, 0.73, 0.74, 0.75, 0.76 and 0.77."
    problem = numbers_problem(text)
    assert problem == "cites numbers not in its data: 0.71, 0.72, 0.73, 0.74, 0.75 and 2 more"


def test_compact_json_data_numbers_are_separate():
    assert numbers_problem("Accuracy at 400 steps.", data="[12,400,3]") is None


def test_problems_come_in_order():
    text = "Hello. " + " ".join(["This run looks promising to me overall."] * 3) + " It is 77.7% sure."
    q = check_text(text, names=NAMES, data=DATA)
    assert [p.split(" ")[0] for p in q.problems] == ["a", "names", "repeats", "cites"]
    assert q.problems[0] == 'a refusal or greeting ("Hello")'
    assert q.problems[3] == "cites numbers not in its data: 77.7%"
    assert q.describe() == "; ".join(q.problems)


def test_long_quotes_are_clipped():
    sentence = "The accuracy " + "went up and down again " * 10 + "forever"
    q = check_text(f"{sentence}. {sentence}.", names=NAMES)
    quoted = q.problems[0].split('"')[1]
    assert len(quoted) <= 60
    assert quoted.endswith("...")
