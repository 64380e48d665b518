"""What the pruner needs of the study store: the ended trials' curves, read once each, and the PRUNED end.

Mixed into MlflowStudyStore (which gives `client`, `_trial_runs`, `_log_curves`, `_settle` and `_late`).
A pruned trial's run: tags `agenthpo.state=PRUNED`, `agenthpo.pruned=true`, `agenthpo.pruned_step` and
`agenthpo.pruned_reason` (also the first line of its note), `agenthpo.pruned_rungs` when ASHA stopped it
(the rungs it competed at: the other trials' ASHA compares with it there only), its curves up to that
step, `train_seconds`, `learning_curves.png`, and MLflow status KILLED (ended before its last step, on
purpose).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from agenthpo.tracking.claims import RUN_STATUS
from mlflow.entities import Metric, RunTag

from agenthpo import names
from agenthpo.pruning import Peer
from agenthpo.trial import TrialState
from agenthpo.trial_events import announce

_ENDED_WITH_CURVES = (TrialState.FINISHED.value, TrialState.PRUNED.value)


class PruningMixin:
    def peer_curves(self, study_id: str, metric: str, known: set[str]) -> dict[str, Peer]:
        """The `metric` curve of each FINISHED or PRUNED trial of the study whose run id is not in `known`:
        one search for the list, then one metric-history read per trial not seen before."""
        peers = {}
        for run in self._trial_runs(study_id):  # type: ignore[attr-defined]
            tags, run_id = run.data.tags, run.info.run_id
            if run_id in known or tags.get(names.STATE) not in _ENDED_WITH_CURVES:
                continue
            points = self.client.get_metric_history(run_id, metric)  # type: ignore[attr-defined]
            # One point per step, the latest logged: a retried training step logs its curve again.
            latest = {m.step: m.value for m in sorted(points, key=lambda m: m.timestamp)}
            rungs = tags.get(names.PRUNED_RUNGS)
            peers[run_id] = Peer(int(tags.get(names.TRIAL, 0)), tags[names.STATE] == TrialState.FINISHED.value,
                                 tuple(sorted(latest.items())), int(rungs) if rungs is not None else None)
        return peers

    def prune_trial(self, trial_id: str, step: int, reason: str,
                    curves: Mapping[str, Sequence[tuple[int, float]]], train_seconds: float, plot: Path | None,
                    reads: Mapping[str, float], rungs: int | None = None) -> None:
        from agenthpo.tracking.store import _clip, _now_ms  # the store imports this mixin

        self._log_curves(trial_id, curves)  # type: ignore[attr-defined]
        stamp = _now_ms()
        metrics = [Metric(names.TRAIN_SECONDS, float(train_seconds), stamp, 0),
                   *(Metric(k, float(v), stamp, 0) for k, v in reads.items())]
        self.client.log_batch(trial_id, metrics=metrics)  # type: ignore[attr-defined]
        if plot is not None:
            self.client.log_artifact(trial_id, str(plot))  # type: ignore[attr-defined]
        ended = self._settle(trial_id, TrialState.PRUNED)  # type: ignore[attr-defined]
        if ended != TrialState.PRUNED:
            self._late(trial_id, ended, TrialState.PRUNED, _clip(f"pruned at step {step}: {reason}", 1000))  # type: ignore[attr-defined]
            return
        self.client.log_batch(trial_id, tags=[  # type: ignore[attr-defined]
            RunTag(names.STATE, TrialState.PRUNED.value), RunTag(names.PRUNED, "true"),
            RunTag(names.PRUNED_STEP, str(int(step))), RunTag(names.PRUNED_REASON, _clip(reason)),
            *([RunTag(names.PRUNED_RUNGS, str(int(rungs)))] if rungs is not None else []),
            self._run_name(trial_id, f"pruned@{int(step)}"),  # type: ignore[attr-defined]
        ])
        self.client.set_terminated(trial_id, status=RUN_STATUS[TrialState.PRUNED])  # type: ignore[attr-defined]
        announce(trial_id, "pruned")
