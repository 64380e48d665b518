"""A trial run read back as the `TrialRecord` the proposers, the Creator's log and the report use."""

from __future__ import annotations

import json
import math

from agenthpo import names
from agenthpo.trial import TrialRecord, TrialState


def trial_record(run) -> TrialRecord:
    tags, metrics = run.data.tags, names.current_metrics(run.data.metrics)
    state = TrialState(tags.get(names.STATE, run.info.status if run.info.status in
                                ("RUNNING", "FINISHED", "FAILED") else "FAILED"))
    value = float(tags[names.VALUE]) if names.VALUE in tags else None
    if state == TrialState.FINISHED and (value is None or not math.isfinite(value)):
        state = TrialState.FAILED  # a run finished by hand or by another tool without our result
    pruned_step = tags.get(names.PRUNED_STEP)
    return TrialRecord(
        number=int(tags.get(names.TRIAL, 0)),
        params=json.loads(tags.get(names.PARAMS, "{}")),
        state=state, value=value if state == TrialState.FINISHED else None,
        source=tags.get(names.SOURCE, ""), run_id=run.info.run_id,
        facts=json.loads(tags.get(names.ANALYSIS, "{}")),
        error=tags.get(names.ERROR, ""), train_seconds=metrics.get(names.TRAIN_SECONDS),
        metrics=metrics, repair=tags.get(names.REPAIR, ""),
        rationale=tags.get(names.RATIONALE, ""),
        pruned_step=int(pruned_step) if pruned_step is not None and pruned_step.isdigit() else None,
        pruned_reason=tags.get(names.PRUNED_REASON, ""),
        generation=int(tags.get(names.GENERATION, "1")),  # trials recorded before generations are the first
    )
