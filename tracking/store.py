"""MLflow as the study's only record: a study is a parent run, each trial a child run.

Conventions (what a person sees in the MLflow UI):
- study run: tags `agenthpo.role=study`, `agenthpo.study=<name>`, the spec as `spec.json` artifact,
  the final report as `report.md`, `optimization_history.png` and the run's note.
- trial run: child of the study (`mlflow.parentRunId`), tags `agenthpo.role=trial`, `agenthpo.trial`,
  `agenthpo.source`, `agenthpo.params` (typed JSON), `agenthpo.rationale`; params as MLflow params;
  per-step curves as metrics with `step`; the objective metric; `learning_curves.png`; the
  Executor's analysis in `mlflow.note.content` and `agenthpo.analysis`; status FINISHED or FAILED
  with `agenthpo.error` (full traceback in `error.txt`).

Many drivers, one study (two `agenthpo tune`, a scheduled KFP run beside a manual one, two `bench`
runs): MLflow has no transactions over REST, but one atomic create-if-absent everywhere (SQLite,
PostgreSQL, `mlflow server`): experiment names are unique, deleted ones included. A claim is a hidden
experiment (created with its tags, then soft-deleted), see `agenthpo.tracking.claims`:
- **The study.** A new study's run is kept only if it wins the claim `.agenthpo/studies/<experiment>/
  <name>/1`; a driver that loses deletes its run and resumes the winner's.
- **Trial numbers.** A Creator first opens the trial's run (not numbered, state PROPOSED), then claims
  `.agenthpo/claims/<study run>/<k>` naming that run, from k = the highest number seen + 1 upwards until
  a create succeeds: numbers are unique and dense, and every number below k was claimed, by a run made
  before its claim. It then counts the slots below k that are taken (`agenthpo.slots.slots_taken`): a
  claim holds unless its run is INTERRUPTED, STOPPED or deleted; a claim whose run is not numbered yet
  holds (pessimistic). Fewer than `budget.trials` taken: the run is numbered k and RUNNING. Else it is
  given back (STOPPED, deleted) and the round stops or waits. A slot given back never holds again, so
  whatever the interleaving, at most `budget.trials` trials hold slots. `max_failed_trials` is checked
  on the recorded trials when a round starts: drivers running at once may pass it by the trials they
  have in flight.
- **Ends.** A trial ends once: finish, fail and interrupt claim `.agenthpo/settled/<trial run>` with
  their state; the first wins. A result that loses (a trial marked INTERRUPTED that finishes later) is
  kept as `agenthpo.late_value` / `agenthpo.late_state` and a note line: never counted, never FINISHED.
- **Heartbeats.** A training step writes `agenthpo.heartbeat` every `$AGENTHPO_HEARTBEAT_SECONDS`
  (30); `reap_stale` (a resume, or a driver waiting for slots held by others) marks INTERRUPTED only
  trials silent for 4 intervals (never beaten: 20 intervals after they were opened).
`mlflow gc` must not purge the deleted `.agenthpo/...` experiments of a study still in progress.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agenthpo.tracking.claims import RUN_STATUS, ClaimBook, SlotsMixin
from agenthpo.tracking.client import make_client
from agenthpo.tracking.pruned import PruningMixin
from agenthpo.tracking.runs_cache import HistoryMixin, TrialRuns
from agenthpo.tracking.study_run import StudyRunMixin
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from agenthpo import names
from agenthpo.spec import StudySpec
from agenthpo.trial import Proposal, TrialRecord, TrialState
from agenthpo.trial_events import announce

TAG_LIMIT = 8000  # MLflow cuts tag values here; longer texts go to artifacts
NOTE, PARENT = names.NOTE, names.PARENT
_BATCH = 1000  # MLflow's limit of metrics per log_batch call
_PARAM_BATCH = 100


def _clip(text: str, limit: int = TAG_LIMIT) -> str:
    if len(text) <= limit:
        return text
    marker = "\n\n[... cut; the full text is in the run's artifacts]"
    return text[: limit - len(marker)] + marker


def _now_ms() -> int:
    return int(time.time() * 1000)


def _quote(value: str) -> str:
    return value.replace("'", "\\'")


def artifact_root_for(tracking_uri: str) -> str | None:
    """Beside a SQLite database, keep artifacts next to it (not in whatever folder a step runs in)."""
    if tracking_uri.startswith("sqlite:////"):
        return str(Path(tracking_uri[len("sqlite:///"):]).parent / "mlartifacts")
    return None  # a tracking server decides


class MlflowStudyStore(HistoryMixin, SlotsMixin, PruningMixin, StudyRunMixin):
    """Implements `agenthpo.study.StudyStore` on an MLflow tracking URI (SQLite, server, Databricks)."""

    def __init__(self, tracking_uri: str):
        self.tracking_uri = tracking_uri
        self.client = make_client(tracking_uri)
        self.book = ClaimBook(self.client)
        self.clock = time.time  # what heartbeats write and staleness is judged by (tests move it)
        self._experiments: dict[str, str] = {}  # study run id -> its experiment id
        self._runs: dict[str, TrialRuns] = {}  # study run id -> its trial runs as last read
        self._records: dict[str, TrialRecord] = {}  # settled trial run id -> its record
        self._metrics: dict[str, str] = {}  # study run id -> its objective's metric (for run names)
        self._settled_runs: dict[str, Any] = {}  # the trial run `_settle` read last (its name is written next)

    # -- studies -----------------------------------------------------------------------------------
    def experiment_id(self, name: str) -> str:
        experiment = self.client.get_experiment_by_name(name)
        if experiment is not None:
            if experiment.lifecycle_stage == "deleted":
                self.client.restore_experiment(experiment.experiment_id)
            if names.EXPERIMENT_KIND not in experiment.tags:  # a kind the user chose stays
                self.client.set_experiment_tag(experiment.experiment_id, names.EXPERIMENT_KIND, names.MODEL_DEVELOPMENT)
            return experiment.experiment_id
        root = artifact_root_for(self.tracking_uri)
        location = f"{root}/{name}" if root else None
        try:
            return self.client.create_experiment(name, artifact_location=location,
                                                 tags={names.EXPERIMENT_KIND: names.MODEL_DEVELOPMENT})
        except Exception:
            # Another process created it between our look-up and our create.
            experiment = self.client.get_experiment_by_name(name)
            if experiment is None:
                raise
            return experiment.experiment_id

    def _active(self, run_id: str) -> bool:
        try:
            return self.client.get_run(run_id).info.lifecycle_stage == "active"
        except MlflowException:
            return False

    def find_study(self, name: str, experiment: str | None = None) -> str | None:
        if experiment is not None:
            found = self.client.get_experiment_by_name(experiment)
            experiment_ids = [found.experiment_id] if found else []
            claimed = found and self.book.claimed_study(found.experiment_id, name, self._active)
            if claimed:
                return claimed
        else:
            experiment_ids = [e.experiment_id for e in self.client.search_experiments()]
        if not experiment_ids:
            return None
        runs = self.client.search_runs(
            experiment_ids,
            filter_string=f"tags.`{names.ROLE}` = '{names.ROLE_STUDY}' and tags.`{names.STUDY}` = '{_quote(name)}'",
            order_by=["attributes.start_time DESC"], max_results=1,
        )
        return runs[0].info.run_id if runs else None

    def open_study(self, spec: StudySpec) -> str:
        """The study's parent run, created or resumed; stale trials (no heartbeat) are marked interrupted."""
        study_id = self.find_study(spec.name, spec.experiment_name)
        tags = {
            names.ROLE: names.ROLE_STUDY, names.STUDY: spec.name, names.TASK: spec.task,
            names.PROPOSER: spec.proposer.name, names.BUDGET_TRIALS: str(spec.budget.trials),
            names.OBJECTIVE: f"{spec.objective.direction} {spec.objective.metric}",
            names.PRUNER: spec.pruner.name,
        }
        if study_id is None:
            experiment_id = self.experiment_id(spec.experiment_name)
            run = self.client.create_run(experiment_id, run_name=spec.name,
                                         tags={**tags, NOTE: _clip(spec.description or spec.name)})
            # Two drivers starting the same new study at once: one run wins the study's claim.
            study_id = self.book.claim_study(experiment_id, spec.name, run.info.run_id, self._active)
            if study_id != run.info.run_id:
                self.client.delete_run(run.info.run_id)
                return self.open_study(spec)
            self.client.log_batch(study_id, params=[
                Param("task", spec.task), Param("metric", spec.objective.metric),
                Param("direction", spec.objective.direction), Param("seed", str(spec.seed)),
            ])
        else:
            self.client.update_run(study_id, status="RUNNING")
            self.client.log_batch(study_id, tags=[RunTag(k, v) for k, v in tags.items()])
            # Trials of another driver still beat: they are left alone; silent ones are interrupted.
            self.reap_stale(study_id)
        self.client.log_text(study_id, json.dumps(spec.to_json(), indent=2), "spec.json")
        return study_id

    def write_profile(self, study_id: str, profile: Mapping[str, Any]) -> None:
        self.client.log_text(study_id, json.dumps(profile, indent=2, default=str), "dataset_profile.json")

    def contract_fingerprint(self, study_id: str) -> str:
        """The fingerprint of the data that last passed its contract ('' if none passed yet)."""
        return self.client.get_run(study_id).data.tags.get(names.DATA_FINGERPRINT, "")

    def write_contract(self, study_id: str, reports: Sequence[Mapping[str, Any]], fingerprint: str) -> None:
        """The data contract's outcome: `data_contract.json` and tags; a failure ends the study run FAILED."""
        self.client.log_text(study_id, json.dumps(list(reports), indent=2), "data_contract.json")
        failures = [f"{r['table']}: {f}" for r in reports for f in r["failures"]]
        tags = [RunTag(names.DATA_CONTRACT, "failed" if failures else "passed"),
                RunTag(names.DATA_FINGERPRINT, "" if failures else fingerprint)]
        if failures:
            text = "**Data contract failed**: no trial was trained on this data.\n\n" + "\n".join(
                f"- {f}" for f in failures)
            tags += [RunTag(names.ERROR, _clip(failures[0])), RunTag(NOTE, _clip(text))]
        self.client.log_batch(study_id, tags=tags)
        if failures:
            self.client.set_terminated(study_id, status="FAILED")

    def profile(self, study_id: str) -> dict[str, Any]:
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            try:
                path = self.client.download_artifacts(study_id, "dataset_profile.json", folder)
            except Exception:  # no profile recorded (a task without one)
                return {}
            return json.loads(Path(path).read_text())

    def load_spec(self, study_id: str) -> StudySpec:
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            path = self.client.download_artifacts(study_id, "spec.json", folder)
            return StudySpec.from_json(json.loads(Path(path).read_text()))

    # -- trials ------------------------------------------------------------------------------------
    def _open_run(self, study_id: str, proposal: Proposal, key: str, driver: str) -> str:
        """A trial run for `proposal`, not numbered yet (state PROPOSED): `claim_trial` numbers it."""
        study = self.client.get_run(study_id)
        self._experiments[study_id] = study.info.experiment_id
        tags = {
            PARENT: study_id, names.ROLE: names.ROLE_TRIAL,
            names.STUDY: study.data.tags.get(names.STUDY, ""),
            names.SOURCE: proposal.source, names.PARAMS: json.dumps(dict(proposal.params)),
            names.STATE: TrialState.PROPOSED.value,
            names.RATIONALE: _clip(proposal.rationale or "-"),
        }
        tags.update({name: value for name, value in ((names.DRIVER, driver), (names.ROUND_KEY, key)) if value})
        run = self.client.create_run(study.info.experiment_id, run_name="trial-claiming", tags=tags)
        params = [Param(k, str(v)) for k, v in proposal.params.items()]
        for i in range(0, len(params), _PARAM_BATCH):
            self.client.log_batch(run.info.run_id, params=params[i:i + _PARAM_BATCH])
        if proposal.metrics or proposal.tags:
            self.client.log_batch(run.info.run_id,
                                  metrics=[Metric(k, float(v), _now_ms(), 0) for k, v in proposal.metrics.items()],
                                  tags=[RunTag(f"agenthpo.{k}", _clip(str(v))) for k, v in proposal.tags.items()])
        if len(proposal.rationale) > TAG_LIMIT:
            self.client.log_text(run.info.run_id, proposal.rationale, "rationale.md")
        return run.info.run_id

    def _run_name(self, trial_id: str, outcome: str = "", value: float | None = None) -> RunTag:
        """The trial's name once it ended: number, source and result (`f1=0.7123`, FAILED, pruned@4)."""
        # The run `_settle` just read: its number, source and parent never change (no second read per trial).
        run = self._settled_runs.pop(trial_id, None) or self.client.get_run(trial_id)
        tags = run.data.tags
        if value is not None:
            study_id = tags.get(PARENT, "")
            if study_id not in self._metrics:  # the study's objective tag says "maximize f1"
                objective = self.client.get_run(study_id).data.tags.get(names.OBJECTIVE, "value") if study_id else ""
                self._metrics[study_id] = objective.split()[-1] if objective else "value"
            outcome = f"{self._metrics[study_id]}={value:.4g}"
        return RunTag(names.RUN_NAME, names.trial_run_name(int(tags.get(names.TRIAL, 0)), tags.get(names.SOURCE, ""),
                                                           outcome))

    def _note(self, trial_id: str, line: str) -> str:
        """The run's note with `line` added (once)."""
        note = self.client.get_run(trial_id).data.tags.get(NOTE, "")
        if line in note:
            return note
        return _clip(f"{note}\n\n{line}" if note else line)

    def _log_curves(self, trial_id: str, curves: Mapping[str, Sequence[tuple[int, float]]]) -> int:
        stamp = _now_ms()
        points = [Metric(name, float(v), stamp, int(s)) for name, pts in curves.items() for s, v in pts]
        for i in range(0, len(points), _BATCH):
            self.client.log_batch(trial_id, metrics=points[i:i + _BATCH])
        return max((int(s) for pts in curves.values() for s, _ in pts), default=0)

    def finish_trial(self, trial_id: str, value: float, metrics: Mapping[str, float],
                     curves: Mapping[str, Sequence[tuple[int, float]]], train_seconds: float,
                     plot: Path | None) -> None:
        self._log_curves(trial_id, curves)
        stamp = _now_ms()
        # A curve owns its name: a final metric of the same name would append a stray point to it. Final
        # scores are at step 0: one point, not a dot at step = number of trees on a chart of its own.
        final = [Metric(f"final_{k}" if k in curves else k, float(v), stamp, 0) for k, v in metrics.items()]
        final.append(Metric(names.TRAIN_SECONDS, float(train_seconds), stamp, 0))
        self.client.log_batch(trial_id, metrics=final)
        if plot is not None:
            self.client.log_artifact(trial_id, str(plot))
        ended = self._settle(trial_id, TrialState.FINISHED)
        if ended != TrialState.FINISHED:
            self._late(trial_id, ended, TrialState.FINISHED, f"{names.VALUE}={float(value)!r}", value)
            return
        self.client.log_batch(trial_id, tags=[RunTag(names.VALUE, repr(float(value))),
                                              RunTag(names.STATE, TrialState.FINISHED.value),
                                              self._run_name(trial_id, value=value)])
        self.client.set_terminated(trial_id, status="FINISHED")
        announce(trial_id, "finished")

    def fail_trial(self, trial_id: str, error: str, curves: Mapping[str, Sequence[tuple[int, float]]],
                   train_seconds: float) -> None:
        self._log_curves(trial_id, curves)
        self.client.log_metric(trial_id, names.TRAIN_SECONDS, float(train_seconds))
        self.client.log_text(trial_id, error, "error.txt")
        first_line = error.strip().splitlines()[0] if error.strip() else "unknown error"
        ended = self._settle(trial_id, TrialState.FAILED)
        if ended != TrialState.FAILED:
            self._late(trial_id, ended, TrialState.FAILED, _clip(first_line, 1000))
            return
        self.client.log_batch(trial_id, tags=[
            RunTag(names.STATE, TrialState.FAILED.value), RunTag(names.ERROR, _clip(first_line)),
            self._run_name(trial_id, "FAILED"),
        ])
        self.client.set_terminated(trial_id, status=RUN_STATUS[TrialState.FAILED])
        announce(trial_id, "failed")

    def curves(self, trial_id: str) -> dict[str, list[tuple[int, float]]]:
        run = self.client.get_run(trial_id)
        result = {}
        for key in run.data.metrics:
            history = self.client.get_metric_history(trial_id, key)
            if len(history) > 1:
                # One point per step, the latest logged: a retried training step logs its curve again.
                latest = {m.step: m.value for m in sorted(history, key=lambda m: m.timestamp)}
                result[key] = sorted(latest.items())
        return result

    def write_analysis(self, trial_id: str, facts: Mapping[str, Any], note: str) -> None:
        """The Executor's analysis; on a trial that ended INTERRUPTED it follows the note, as information."""
        run = self.client.get_run(trial_id)
        if run.data.tags.get(names.STATE) == TrialState.INTERRUPTED.value:
            note = self._note(trial_id, f"**Late analysis** (not counted):\n\n{note}")
        if len(note) > TAG_LIMIT:
            self.client.log_text(trial_id, note, "analysis.md")
        tags = [RunTag(names.ANALYSIS, _clip(json.dumps(facts))), RunTag(NOTE, _clip(note))]
        quality = [RunTag(names.LLM_QUALITY, _clip(str(facts["llm_quality"])))] if "llm_quality" in facts else []
        self.client.log_batch(trial_id, tags=tags + quality)
        announce(trial_id, "analysed")

    # -- reports -----------------------------------------------------------------------------------
    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
        stamp = _now_ms()
        self.client.log_batch(run_id, metrics=[Metric(k, float(v), stamp, step) for k, v in metrics.items()])
