"""An in-memory `agenthpo.study.StudyStore`, for unit tests of the study's steps without MLflow.

It records what `agenthpo.tracking.MlflowStudyStore` records and reads it back the same way: a study
per (experiment, name), resumed by a second open (trials left RUNNING become INTERRUPTED); a run per
trial with its number, state, value, source, rationale, the proposal's metrics and tags (`repair`
read back as the record's repair), per-step curves, final metrics (`final_<name>` where a curve has
the name), train_seconds, the analysis facts and note, and the first line of an error. Reads return
copies, so a test cannot change the record by accident.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agenthpo import names
from agenthpo.spec import StudySpec
from agenthpo.trial import Proposal, TrialRecord, TrialState

Curves = Mapping[str, Sequence[tuple[int, float]]]


@dataclass
class MemoryTrial:
    """One trial run, as MLflow would hold it."""

    run_id: str
    study_id: str
    number: int
    params: dict[str, Any]
    source: str
    rationale: str
    tags: dict[str, str]  # the proposal's tags (repair, llm_problems, agent), unprefixed
    state: TrialState = TrialState.RUNNING
    value: float | None = None
    error: str = ""  # the full text (MLflow's error.txt); the record reads its first line
    facts: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    plot: bool = False
    # Every point logged, per metric name: (step, value), in the order logged.
    points: dict[str, list[tuple[int, float]]] = field(default_factory=dict)

    def log(self, name: str, value: float, step: int = 0) -> None:
        self.points.setdefault(name, []).append((int(step), float(value)))

    @property
    def metrics(self) -> dict[str, float]:
        """The latest value of each metric (highest step, then last logged), as MLflow's run data."""
        return {name: max(enumerate(pts), key=lambda ip: (ip[1][0], ip[0]))[1][1] for name, pts in self.points.items()}

    def record(self) -> TrialRecord:
        state, value = self.state, self.value
        if state == TrialState.FINISHED and (value is None or not math.isfinite(value)):
            state = TrialState.FAILED  # as MlflowStudyStore reads a run finished without a usable result
        metrics = self.metrics
        return TrialRecord(
            number=self.number, params=copy.deepcopy(self.params), state=state,
            value=value if state == TrialState.FINISHED else None, source=self.source, run_id=self.run_id,
            facts=copy.deepcopy(self.facts), error=_first_line(self.error) if self.error else "",
            train_seconds=metrics.get(names.TRAIN_SECONDS), metrics=metrics, repair=self.tags.get("repair", ""),
        )


@dataclass
class MemoryStudy:
    """The study run: its spec, profile, data contract and final report."""

    study_id: str
    spec: StudySpec
    status: str = "RUNNING"  # RUNNING, FINISHED or FAILED, as the MLflow run's status
    profile: dict[str, Any] | None = None
    contract: list[dict[str, Any]] = field(default_factory=list)
    fingerprint: str = ""
    report: str = ""
    report_plot: bool = False
    summary: dict[str, float] = field(default_factory=dict)
    stopped: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    opened: int = 0  # how often open_study found or created it


def _first_line(error: str) -> str:
    return error.strip().splitlines()[0] if error.strip() else "unknown error"


class MemoryStudyStore:
    """Implements `agenthpo.study.StudyStore` in memory; `studies` and `runs` hold everything recorded."""

    def __init__(self) -> None:
        self.studies: dict[str, MemoryStudy] = {}
        self.runs: dict[str, MemoryTrial] = {}
        self._ids = itertools.count(1)

    # -- studies ---------------------------------------------------------------------------------
    def find_study(self, name: str, experiment: str | None = None) -> str | None:
        found = [s.study_id for s in self.studies.values()
                 if s.spec.name == name and (experiment is None or s.spec.experiment_name == experiment)]
        return found[-1] if found else None

    def open_study(self, spec: StudySpec) -> str:
        study_id = self.find_study(spec.name, spec.experiment_name)
        if study_id is None:
            study_id = f"study-{next(self._ids)}"
            self.studies[study_id] = MemoryStudy(study_id, spec)
        else:
            for trial in self.trials(study_id):
                if trial.state == TrialState.RUNNING:
                    self.mark_interrupted(trial.run_id, "its process stopped before the trial ended "
                                                        "(found RUNNING when the study resumed)")
        study = self.studies[study_id]
        study.spec, study.status = spec, "RUNNING"
        study.opened += 1
        return study_id

    def study(self, study_id: str) -> MemoryStudy:
        return self.studies[study_id]

    def write_profile(self, study_id: str, profile: Mapping[str, Any]) -> None:
        self.studies[study_id].profile = copy.deepcopy(dict(profile))

    def profile(self, study_id: str) -> dict[str, Any]:
        return copy.deepcopy(self.studies[study_id].profile or {})

    def contract_fingerprint(self, study_id: str) -> str:
        return self.studies[study_id].fingerprint

    def write_contract(self, study_id: str, reports: Sequence[Mapping[str, Any]], fingerprint: str) -> None:
        study = self.studies[study_id]
        study.contract = copy.deepcopy([dict(r) for r in reports])
        failed = any(r["failures"] for r in reports)
        study.fingerprint = "" if failed else fingerprint
        if failed:
            study.status = "FAILED"

    def write_report(self, study_id: str, markdown: str, plot: Path | None, summary: Mapping[str, float],
                     stopped: str) -> None:
        study = self.studies[study_id]
        study.report, study.report_plot, study.stopped = markdown, plot is not None, stopped
        study.summary = {k: float(v) for k, v in summary.items()}
        study.status = "FAILED" if stopped else "FINISHED"

    # -- trials ----------------------------------------------------------------------------------
    def trials(self, study_id: str) -> list[MemoryTrial]:
        """The study's trial runs as stored (not copies), by number."""
        return sorted((t for t in self.runs.values() if t.study_id == study_id), key=lambda t: t.number)

    def history(self, study_id: str) -> list[TrialRecord]:
        if study_id not in self.studies:
            raise KeyError(f"no study {study_id!r}")
        return [t.record() for t in self.trials(study_id)]

    def start_trial(self, study_id: str, number: int, proposal: Proposal) -> str:
        if study_id not in self.studies:
            raise KeyError(f"no study {study_id!r}")
        run_id = f"run-{next(self._ids)}"
        trial = MemoryTrial(run_id, study_id, number, copy.deepcopy(dict(proposal.params)), proposal.source,
                            proposal.rationale or "-", {k: str(v) for k, v in proposal.tags.items()})
        for name, value in proposal.metrics.items():
            trial.log(name, value)
        self.runs[run_id] = trial
        return run_id

    def _log_curves(self, trial: MemoryTrial, curves: Curves) -> int:
        for name, points in curves.items():
            for step, value in points:
                trial.log(name, value, step)
        return max((int(s) for pts in curves.values() for s, _ in pts), default=0)

    def finish_trial(self, trial_id: str, value: float, metrics: Mapping[str, float], curves: Curves,
                     train_seconds: float, plot: Path | None) -> None:
        trial = self.runs[trial_id]
        last_step = self._log_curves(trial, curves)
        for name, metric in metrics.items():
            trial.log(f"final_{name}" if name in curves else name, metric, last_step)
        trial.log(names.TRAIN_SECONDS, train_seconds)
        trial.plot = plot is not None
        trial.state, trial.value = TrialState.FINISHED, float(value)

    def fail_trial(self, trial_id: str, error: str, curves: Curves, train_seconds: float) -> None:
        trial = self.runs[trial_id]
        self._log_curves(trial, curves)
        trial.log(names.TRAIN_SECONDS, train_seconds)
        trial.state, trial.error = TrialState.FAILED, error or "unknown error"

    def mark_interrupted(self, trial_id: str, why: str) -> None:
        trial = self.runs[trial_id]
        trial.state, trial.note = TrialState.INTERRUPTED, f"**Interrupted**: {why}. Not counted."

    def fail_running(self, study_id: str, error: str) -> list[int]:
        """Mark trials still RUNNING as FAILED (counted), as after a step's process crashed."""
        running = [t for t in self.trials(study_id) if t.state == TrialState.RUNNING]
        for trial in running:
            self.fail_trial(trial.run_id, error, {}, 0.0)
        return [t.number for t in running]

    def curves(self, trial_id: str) -> dict[str, list[tuple[int, float]]]:
        """Metrics logged at more than one point, sorted by step (as MLflow's metric histories)."""
        return {name: sorted(pts) for name, pts in self.runs[trial_id].points.items() if len(pts) > 1}

    def write_analysis(self, trial_id: str, facts: Mapping[str, Any], note: str) -> None:
        trial = self.runs[trial_id]
        trial.facts, trial.note = copy.deepcopy(dict(facts)), note

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
        if run_id in self.studies:
            self.studies[run_id].metrics.update({k: float(v) for k, v in metrics.items()})
            return
        for name, value in metrics.items():
            self.runs[run_id].log(name, value, step)
