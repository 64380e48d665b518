import pytest

from agenthpo.analysis import analyze_curves, pick_monitored, summarize
from agenthpo.trial import Objective

OBJ = Objective("accuracy", "maximize")


def curve(values):
    return [(i + 1, v) for i, v in enumerate(values)]


def test_overfitting_is_seen_when_validation_turns_back_up():
    val = [1.0 - 0.1 * i for i in range(6)] + [0.5 + 0.05 * i for i in range(1, 8)]
    train = [1.0 - 0.07 * i for i in range(13)]
    facts = analyze_curves({"validation_loss": curve(val), "train_loss": curve(train)}, OBJ)
    assert facts.verdict == "overfitting"
    assert facts.best_step == 6 and facts.best_value == pytest.approx(0.5)
    assert facts.worse_than_best == pytest.approx((0.85 - 0.5) / 0.5)


def test_still_improving_is_underfitting():
    val = [1.0 / (i + 1) ** 0.5 for i in range(40)]
    facts = analyze_curves({"validation_loss": curve(val), "train_loss": curve([v * 0.95 for v in val])}, OBJ)
    assert facts.verdict.startswith("still improving")
    assert facts.best_step == 40 and facts.tail_improvement > 0.01


def test_converged_and_gap():
    flat = [1.0, 0.6, 0.5] + [0.5] * 20
    assert analyze_curves({"validation_loss": curve(flat), "train_loss": curve(flat)}, OBJ).verdict == "converged"
    gap = analyze_curves({"validation_loss": curve(flat), "train_loss": curve([0.1] * 23)}, OBJ)
    assert gap.verdict == "converged with a large generalisation gap" and gap.gap == pytest.approx(0.8)


def test_falls_back_to_the_objective_curve_with_its_direction():
    assert pick_monitored({"validation_accuracy": curve([0.5, 0.6])}, OBJ) == ("validation_accuracy", False)
    acc = [0.5, 0.7, 0.8, 0.75, 0.7, 0.65]
    facts = analyze_curves({"validation_accuracy": curve(acc)}, OBJ)
    assert facts.verdict == "overfitting" and facts.best_step == 3 and facts.train_final is None
    assert analyze_curves({"lr": curve([0.1, 0.2])}, OBJ) is None


def test_summary_mentions_the_facts():
    facts = analyze_curves({"validation_loss": curve([1.0, 0.5, 0.7, 0.9])}, OBJ)
    text = summarize(4, 0.91, OBJ, facts)
    assert "Trial 4" in text and "accuracy = 0.91" in text and "overfitting" in text and "step 2 of 4" in text
    assert "failed" in summarize(5, None, OBJ, None, error="ValueError: boom")
