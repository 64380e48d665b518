"""The trials as rows for a DataFrame: Optuna's column names where they mean the same."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agenthpo.spec import StudySpec
from agenthpo.trial import TrialRecord


def trial_rows(trials: Sequence[TrialRecord], spec: StudySpec) -> list[dict[str, Any]]:
    """One dict per trial: number, state, value, source, train_seconds, params_<name> (each of the space's
    hyperparameters), rationale, error, pruned_step, pruned_reason, generation, run_id."""
    names = [p.name for p in spec.space]
    rows = []
    for trial in trials:
        row: dict[str, Any] = {"number": trial.number, "state": trial.state.value, "value": trial.value,
                               "source": trial.source, "train_seconds": trial.train_seconds}
        row.update({f"params_{name}": trial.params.get(name) for name in names})
        row.update({"rationale": trial.rationale, "error": trial.error, "pruned_step": trial.pruned_step,
                    "pruned_reason": trial.pruned_reason, "generation": trial.generation,
                    "run_id": trial.run_id})
        rows.append(row)
    return rows
