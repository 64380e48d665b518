"""Metric names built in one place: an LLM role's usage and its totals over trials."""

import pytest

from agenthpo import names
from agenthpo.llm.client import Usage


def test_usage_metrics_are_named_by_role_and_kind():
    assert Usage(2, 100, 20, 1.5).to_metrics("creator") == {
        "creator_llm_calls": 2.0, "creator_prompt_tokens": 100.0, "creator_completion_tokens": 20.0,
        "creator_llm_seconds": 1.5}
    with pytest.raises(ValueError, match="role='critic'"):
        names.usage_metric("critic", names.PROMPT_TOKENS)


def test_usage_totals_sum_the_asked_roles_only():
    trials = [Usage(1, 100, 20, 1.0).to_metrics("creator") | Usage(1, 50, 10, 0.5).to_metrics("executor"),
              Usage(1, 100, 20, 2.0).to_metrics("creator") | {"train_seconds": 9.0}]
    assert names.usage_total(trials, names.LLM_SECONDS) == pytest.approx(3.5)
    assert names.usage_total(trials, names.PROMPT_TOKENS, roles=("executor",)) == 50.0
    assert names.best_metric("f1") == "best_f1"
