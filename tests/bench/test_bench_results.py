"""Aggregation: improvement over random search and the table's cells."""

import pytest
from bench_helpers import TINY

from agenthpo.bench import StudyOutcome, aggregate, improvement, load_suite
from agenthpo.trial import Objective


def test_improvement_over_random_is_signed_for_the_direction():
    assert improvement(5.0, 10.0, Objective("value", "minimize")) == pytest.approx(50.0)
    assert improvement(0.6, 0.5, Objective("f1", "maximize")) == pytest.approx(20.0)
    assert improvement(0.4, 0.5, Objective("f1", "maximize")) == pytest.approx(-20.0)
    assert improvement(1.0, 0.0, Objective("value", "minimize")) is None


def test_failed_trials_count_against_the_budget_in_the_table():
    suite = load_suite(TINY)
    minimize = Objective("value", "minimize")
    outcomes = [StudyOutcome("branin", "tpe", 0, minimize, (None, 4.0, 2.0)),
                StudyOutcome("branin", "tpe", 1, minimize, (6.0, 1.0, 3.0)),
                StudyOutcome("branin", "random", 0, minimize, (8.0, 8.0, 8.0))]
    results = aggregate(suite, outcomes)
    first, third = results.table[("branin", "tpe")][1], results.table[("branin", "tpe")][3]
    assert (first.mean, first.count) == (6.0, 1)  # the repeat whose first trial failed has no value yet
    assert (third.mean, third.std, third.count) == (1.5, 0.5, 2)
    assert results.improvements["tpe"][3] == pytest.approx(100 * (8.0 - 1.5) / 8.0)
    assert results.table[("rosenbrock-shifted", "tpe")][1] is None and "| tpe | - | - |" in results.markdown()

