"""Metric names built in one place: an LLM role's usage and its totals over trials, the prefixes that give
MLflow's chart sections, and older stores' names read back."""

import pytest

from agenthpo import names
from agenthpo.llm.client import Usage


def test_usage_metrics_are_named_by_role_and_kind():
    assert Usage(2, 100, 20, 1.5).to_metrics("creator") == {
        "llm/creator_llm_calls": 2.0, "llm/creator_prompt_tokens": 100.0, "llm/creator_completion_tokens": 20.0,
        "llm/creator_llm_seconds": 1.5}
    with pytest.raises(ValueError, match="role='critic'"):
        names.usage_metric("critic", names.PROMPT_TOKENS)


def test_usage_totals_sum_the_asked_roles_only():
    trials = [Usage(1, 100, 20, 1.0).to_metrics("creator") | Usage(1, 50, 10, 0.5).to_metrics("executor"),
              Usage(1, 100, 20, 2.0).to_metrics("creator") | {names.TRAIN_SECONDS: 9.0}]
    assert names.usage_total(trials, names.LLM_SECONDS) == pytest.approx(3.5)
    assert names.usage_total(trials, names.PROMPT_TOKENS, roles=("executor",)) == 50.0
    assert names.best_metric("f1") == "best_f1"


def test_every_metric_the_project_writes_has_a_section_prefix_except_the_objective_ones():
    constants = [v for k, v in vars(names).items() if k.isupper() and isinstance(v, str) and not v.startswith(
        ("agenthpo.", "mlflow.", ".agenthpo")) and k not in ("USAGE_KINDS", "LLM_CALLS", "PROMPT_TOKENS",
                                                             "COMPLETION_TOKENS", "LLM_SECONDS")]
    unprefixed = [v for v in constants if "/" not in v and v not in ("study", "trial", "benchmark",
                                                                     "custom_model_development")]
    assert unprefixed == []
    assert {v.split("/")[0] for v in constants if "/" in v} == {"time", "llm", "study", "pruner"}
    # The objective's own series stay in the first (unprefixed) section, beside the curves.
    assert "/" not in names.trial_objective_metric("f1") + names.best_metric("f1")


def test_an_older_store_s_unprefixed_names_read_back_as_today_s():
    old = {"train_seconds": 4.0, "creator_prompt_tokens": 100.0, "llm_tokens_total": 120.0, "trials_finished": 3.0,
           "session_wall_seconds": 9.0, "pruner_reads": 2.0, "f1": 0.8, "validation_loss": 0.3}
    assert names.current_metrics(old) == {
        names.TRAIN_SECONDS: 4.0, names.usage_metric("creator", names.PROMPT_TOKENS): 100.0,
        names.LLM_TOKENS_TOTAL: 120.0, names.TRIALS_FINISHED: 3.0, names.SESSION_WALL_SECONDS: 9.0,
        names.PRUNER_READS: 2.0, "f1": 0.8, "validation_loss": 0.3}
    # A run holding both (rewritten by a newer version) keeps today's value.
    assert names.current_metrics({"train_seconds": 1.0, names.TRAIN_SECONDS: 2.0}) == {names.TRAIN_SECONDS: 2.0}
