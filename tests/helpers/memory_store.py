"""An in-memory `agenthpo.study.StudyStore`, for unit tests of the study's steps without MLflow.

It records what `agenthpo.tracking.MlflowStudyStore` records and reads it back the same way: a study
per (experiment, name), resumed by a second open (stale RUNNING trials become INTERRUPTED); a run per
trial with its number, state, value, source, rationale, the proposal's metrics and tags (`repair`
read back as the record's repair), per-step curves, final metrics (`final_<name>` where a curve has
the name), train_seconds, the analysis facts and note, and the first line of an error. Reads return
copies, so a test cannot change the record by accident.

Slots are shared as in MLflow (`agenthpo.tracking.claims`): a trial's run is opened unnumbered, then
claims the next free number (`claims`, create-if-absent) and keeps it if fewer than the budget's slots
below it are taken (`agenthpo.slots.slots_taken`), else it is given back (STOPPED, deleted); a trial
ends once (`settled`: a later result is kept as a late one, not counted); heartbeats and staleness go
by `clock`, which a test may move.
"""

from __future__ import annotations

import copy
import itertools
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agenthpo import names
from agenthpo.generations import Generation
from agenthpo.pruning import Peer
from agenthpo.slots import Claim, current_driver, is_stale, slots_taken
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
    deleted: bool = False  # given back: MLflow's deleted run, out of every search
    key: str = ""  # the Creator step that opened it
    driver: str = ""
    started: float = 0.0
    beat: float | None = None
    interval: float | None = None
    attempts: int = 0
    late_state: str = ""
    late_value: float | None = None
    pruned_step: int | None = None
    pruned_reason: str = ""
    pruned_rungs: int | None = None
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
            rationale=self.rationale, pruned_step=self.pruned_step, pruned_reason=self.pruned_reason,
            generation=int(self.tags.get("generation", "1")),
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
    generation: Generation = field(default_factory=Generation)
    generations: list[tuple[Generation, str]] = field(default_factory=list)  # as begun, with the note
    report: str = ""
    report_plot: bool = False
    html: str = ""  # the report page (agenthpo.report_html)
    series: list = field(default_factory=list)  # (number, value, best so far) as write_progress got them
    best_run_id: str = ""
    header: str = ""  # the note's first lines
    summary: dict[str, float] = field(default_factory=dict)
    stopped: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    opened: int = 0  # how often open_study found or created it
    quality: str = ""  # the final analysis's llm_quality


def _first_line(error: str) -> str:
    return error.strip().splitlines()[0] if error.strip() else "unknown error"


def _with_line(note: str, line: str) -> str:
    return note if line in note else (f"{note}\n\n{line}" if note else line)


class MemoryStudyStore:
    """Implements `agenthpo.study.StudyStore` in memory; `studies` and `runs` hold everything recorded."""

    def __init__(self) -> None:
        self.studies: dict[str, MemoryStudy] = {}
        self.runs: dict[str, MemoryTrial] = {}
        self.claims: dict[str, dict[int, str]] = {}  # study -> claimed number -> the run that claimed it
        self.settled: dict[str, TrialState] = {}  # trial run -> the state it ended in (the first one)
        self.clock = time.time
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
            self.reap_stale(study_id)
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

    def generation(self, study_id: str) -> Generation:
        return self.studies[study_id].generation

    def begin_generation(self, study_id: str, generation: Generation, note: str) -> None:
        self.studies[study_id].generation = generation
        self.studies[study_id].generations.append((generation, note))

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
                     stopped: str, quality: str = "", html: str = "", header: str = "") -> None:
        study = self.studies[study_id]
        study.header = header
        study.report, study.report_plot, study.stopped = markdown, plot is not None, stopped
        study.html = html
        study.quality = quality
        study.summary = {k: float(v) for k, v in summary.items()}
        study.status = "FAILED" if stopped else "FINISHED"

    def write_progress(self, study_id: str, metric: str, series, best_run_id: str, baseline) -> str:
        study = self.studies[study_id]
        study.series, study.best_run_id = list(series), best_run_id
        line = f"**Best: trial {self.runs[best_run_id].number}**" if best_run_id else ""
        if baseline is not None:
            line += ("; " if line else "") + f"trivial baseline ({baseline[1]}): {metric} = {baseline[0]:.4g}"
        return line

    # -- trials ----------------------------------------------------------------------------------
    def _runs(self, study_id: str) -> list[MemoryTrial]:
        """The study's runs that are not deleted, numbered or not (a claim in progress)."""
        return [t for t in self.runs.values() if t.study_id == study_id and not t.deleted]

    def trials(self, study_id: str) -> list[MemoryTrial]:
        """The study's numbered trial runs as stored (not copies), by number."""
        return sorted((t for t in self._runs(study_id) if t.number > 0), key=lambda t: t.number)

    def history(self, study_id: str) -> list[TrialRecord]:
        if study_id not in self.studies:
            raise KeyError(f"no study {study_id!r}")
        return [t.record() for t in self.trials(study_id)]

    def _open_run(self, study_id: str, proposal: Proposal, key: str, driver: str) -> str:
        if study_id not in self.studies:
            raise KeyError(f"no study {study_id!r}")
        run_id = f"run-{next(self._ids)}"
        trial = MemoryTrial(run_id, study_id, 0, copy.deepcopy(dict(proposal.params)), proposal.source,
                            proposal.rationale or "-", {k: str(v) for k, v in proposal.tags.items()},
                            state=TrialState.PROPOSED, key=key, driver=driver, started=self.clock())
        for name, value in proposal.metrics.items():
            trial.log(name, value)
        self.runs[run_id] = trial
        return run_id

    def claim_trial(self, study_id: str, proposal: Proposal, budget: int | None, key: str = "",
                    driver: str = "") -> Claim:
        run_id = self._open_run(study_id, proposal, key, driver or current_driver())
        claims = self.claims.setdefault(study_id, {})
        number = max([*claims, *(t.number for t in self.trials(study_id))], default=0) + 1
        while number in claims:
            number += 1
        claims[number] = run_id
        taken = slots_taken(*self._slots(study_id), below=number)
        if budget is not None and taken >= budget:
            reason = f"budget of {budget} trials used or claimed by other drivers (trial number {number} given back)"
            self._give_back(run_id, reason)
            return Claim(number, run_id, False, reason)
        trial = self.runs[run_id]
        trial.number, trial.state = number, TrialState.RUNNING
        return Claim(number, run_id, True)

    def start_trial(self, study_id: str, number: int, proposal: Proposal) -> str:
        claims = self.claims.setdefault(study_id, {})
        if number in claims or any(t.number == number for t in self.trials(study_id)):
            raise ValueError(f"trial number {number} of study {study_id} is taken")
        run_id = self._open_run(study_id, proposal, "", current_driver())
        claims[number] = run_id
        self.runs[run_id].number, self.runs[run_id].state = number, TrialState.RUNNING
        return run_id

    def _slots(self, study_id: str):
        runs = self._runs(study_id)
        return (dict(self.claims.get(study_id, {})), {t.run_id: t.state for t in runs},
                {t.number: t.state for t in runs if t.number > 0})

    def slots_held(self, study_id: str) -> int:
        return slots_taken(*self._slots(study_id))

    def _give_back(self, run_id: str, why: str) -> None:
        trial = self.runs[run_id]
        trial.state, trial.note, trial.deleted = TrialState.STOPPED, f"**Not run**: {why}.", True

    def recorded_round(self, study_id: str, key: str) -> list[tuple[int, str, Proposal]]:
        found = []
        for trial in self._runs(study_id):
            if not key or trial.key != key:
                continue
            if trial.number == 0:
                self._give_back(trial.run_id, "its Creator step stopped before claiming it")
                continue
            usage = {k: v for k, v in trial.metrics.items() if k.startswith("llm/creator_")}
            proposal = Proposal(copy.deepcopy(trial.params), trial.source,
                                "" if trial.rationale == "-" else trial.rationale, metrics=usage)
            found.append((trial.number, trial.run_id, proposal))
        return sorted(found, key=lambda t: t[0])

    def opened_by(self, study_id: str, driver: str) -> set[int]:
        return {t.number for t in self.trials(study_id) if t.driver == driver}

    def trial(self, trial_id: str) -> TrialRecord | None:
        trial = self.runs[trial_id]
        return None if trial.deleted or trial.number == 0 else trial.record()

    def heartbeat(self, trial_id: str, interval: float) -> None:
        trial = self.runs[trial_id]
        trial.beat, trial.interval = self.clock(), interval

    def start_training(self, trial_id: str) -> int:
        trial = self.runs[trial_id]
        trial.attempts += 1
        return trial.attempts - 1

    def reap_stale(self, study_id: str) -> list[int]:
        now, reaped = self.clock(), []
        for trial in self._runs(study_id):
            if trial.state not in (TrialState.RUNNING, TrialState.PROPOSED) or \
                    not is_stale(now, trial.started, trial.beat, trial.interval):
                continue
            if trial.number == 0:
                self._give_back(trial.run_id, "its Creator stopped before claiming it")
            elif self.mark_interrupted(trial.run_id, "its process stopped: no sign of life"):
                reaped.append(trial.number)
        return reaped

    def _settle(self, trial_id: str, state: TrialState) -> TrialState:
        trial = self.runs[trial_id]
        if trial.state not in (TrialState.RUNNING, TrialState.PROPOSED):
            return trial.state
        winner = self.settled.setdefault(trial_id, state)
        trial.state = winner
        return winner

    def _late(self, trial: MemoryTrial, winner: TrialState, late: TrialState, what: str,
              value: float | None = None) -> None:
        trial.late_state, trial.late_value = late.value, value
        trial.note = _with_line(trial.note, f"**Late result** (not counted: the trial had already ended "
                                            f"{winner.value}): {what}")

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
        ended = self._settle(trial_id, TrialState.FINISHED)
        if ended != TrialState.FINISHED:
            self._late(trial, ended, TrialState.FINISHED, f"{names.VALUE}={float(value)!r}", float(value))
            return
        trial.value = float(value)

    def fail_trial(self, trial_id: str, error: str, curves: Curves, train_seconds: float) -> None:
        trial = self.runs[trial_id]
        self._log_curves(trial, curves)
        trial.log(names.TRAIN_SECONDS, train_seconds)
        ended = self._settle(trial_id, TrialState.FAILED)
        if ended != TrialState.FAILED:
            self._late(trial, ended, TrialState.FAILED, _first_line(error or "unknown error"))
            return
        trial.error = error or "unknown error"

    def prune_trial(self, trial_id: str, step: int, reason: str, curves: Curves, train_seconds: float,
                    plot: Path | None, reads: Mapping[str, float], rungs: int | None = None) -> None:
        trial = self.runs[trial_id]
        self._log_curves(trial, curves)
        trial.log(names.TRAIN_SECONDS, train_seconds)
        for name, value in reads.items():
            trial.log(name, value)
        trial.plot = plot is not None
        ended = self._settle(trial_id, TrialState.PRUNED)
        if ended != TrialState.PRUNED:
            self._late(trial, ended, TrialState.PRUNED, f"pruned at step {step}: {reason}")
            return
        trial.pruned_step, trial.pruned_reason, trial.pruned_rungs = int(step), reason, rungs

    def peer_curves(self, study_id: str, metric: str, known: set[str]) -> dict[str, Peer]:
        self.peer_reads = getattr(self, "peer_reads", 0) + 1
        return {t.run_id: Peer(t.number, t.state == TrialState.FINISHED, tuple(sorted(dict(t.points[metric]).items())),
                               t.pruned_rungs)
                for t in self.trials(study_id) if t.run_id not in known and metric in t.points
                and t.state in (TrialState.FINISHED, TrialState.PRUNED)}

    def mark_interrupted(self, trial_id: str, why: str) -> bool:
        if self.runs[trial_id].state not in (TrialState.RUNNING, TrialState.PROPOSED) or \
                self._settle(trial_id, TrialState.INTERRUPTED) != TrialState.INTERRUPTED:
            return False
        self.runs[trial_id].note = f"**Interrupted**: {why}. Not counted."
        return True

    def fail_running(self, study_id: str, error: str, driver: str | None = None) -> list[int]:
        """Mark the RUNNING trials of `driver` (default: this process's, all without one) FAILED (counted)."""
        driver = current_driver() if driver is None else driver
        running = [t for t in self.trials(study_id) if t.state == TrialState.RUNNING and (not driver or
                                                                                          t.driver == driver)]
        for trial in running:
            self.fail_trial(trial.run_id, error, {}, 0.0)
        return [t.number for t in running]

    def curves(self, trial_id: str) -> dict[str, list[tuple[int, float]]]:
        """Metrics logged at more than one point, one per step (the latest logged), sorted by step."""
        return {name: sorted(dict(pts).items()) for name, pts in self.runs[trial_id].points.items() if len(pts) > 1}

    def write_analysis(self, trial_id: str, facts: Mapping[str, Any], note: str) -> None:
        trial = self.runs[trial_id]
        if trial.state == TrialState.INTERRUPTED:
            note = _with_line(trial.note, f"**Late analysis** (not counted):\n\n{note}")
        trial.facts, trial.note = copy.deepcopy(dict(facts)), note

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
        if run_id in self.studies:
            self.studies[run_id].metrics.update({k: float(v) for k, v in metrics.items()})
            return
        for name, value in metrics.items():
            self.runs[run_id].log(name, value, step)
