"""Claims in MLflow: the one create-if-absent that MLflow offers everywhere, over REST included.

Experiment names are unique: `create_experiment` of a name that exists raises RESOURCE_ALREADY_EXISTS,
in one database transaction (the experiment and its tags together) on SQLite, on PostgreSQL and behind
an `mlflow server`. A deleted experiment keeps its name, so a claim is created and then soft-deleted at
once: it stays reserved and the MLflow UI does not list it. A claim's tags, written with it, name the
run that made it (`agenthpo.claim.run_id`), so a claimant whose answer was lost (a retried request) knows
the claim is its own. `mlflow gc` must not purge a running study's deleted experiments (it would
free their names).

`ClaimBook` holds the primitive and the three kinds of claim; `SlotsMixin` is the part of
`MlflowStudyStore` that shares a study among drivers: trial claims within the budget, settlements (one
end state per trial), heartbeats and the reaping of stale trials.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from contextlib import suppress

from agenthpo.tracking.runs_cache import ClaimsSeen
from mlflow.entities import Run, RunTag, ViewType
from mlflow.exceptions import MlflowException

from agenthpo import names
from agenthpo.slots import Claim, current_driver, is_stale, slots_taken
from agenthpo.trial import Proposal, TrialRecord, TrialState
from agenthpo.trial_events import announce

ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
ENDED = (TrialState.FINISHED, TrialState.FAILED, TrialState.PRUNED, TrialState.INTERRUPTED, TrialState.STOPPED)
# The MLflow run status for each end state (an INTERRUPTED trial is FAILED, with the state tag saying why).
RUN_STATUS = {TrialState.FINISHED: "FINISHED", TrialState.FAILED: "FAILED", TrialState.INTERRUPTED: "FAILED",
              TrialState.PRUNED: "KILLED",  # stopped early on purpose: MLflow's word for a run ended before its end
              TrialState.STOPPED: "KILLED"}


def trial_claim_name(study_id: str, number: int) -> str:
    return f"{names.CLAIM_PREFIX}/claims/{study_id}/{number}"


def settlement_name(trial_id: str) -> str:
    return f"{names.CLAIM_PREFIX}/settled/{trial_id}"


def study_claim_name(experiment_id: str, study: str, generation: int) -> str:
    digest = hashlib.sha256(study.encode()).hexdigest()[:32]  # any study name, within MLflow's 256 characters
    return f"{names.CLAIM_PREFIX}/studies/{experiment_id}/{digest}/{generation}"


class ClaimBook:
    """Create-if-absent claims as hidden experiments of one MLflow client."""

    def __init__(self, client):
        self.client = client
        self._claims: dict[str, ClaimsSeen] = {}  # study run id -> its claims as last read

    def create_once(self, name: str, tags: dict[str, str]) -> dict[str, str]:
        """Claim `name` with `tags`; the tags of whoever holds the claim (ours when we made it)."""
        try:
            experiment_id = self.client.create_experiment(name, tags=tags)
        except MlflowException as exc:
            if exc.error_code != ALREADY_EXISTS:
                raise
            found = self.client.get_experiment_by_name(name)
            if found is None:  # purged between the two calls (`mlflow gc`): nobody holds it now
                return self.create_once(name, tags)
            return dict(found.tags)
        with suppress(MlflowException):  # hidden from the UI; a claim left visible is still a claim
            self.client.delete_experiment(experiment_id)
        return dict(tags)

    def trial_claims(self, study_id: str) -> dict[int, str]:
        """Claimed trial number -> the run that claimed it (after the first look, only new numbers are asked)."""
        return self._claims.setdefault(study_id, ClaimsSeen()).refresh(
            lambda: self._search_claims(study_id), lambda number: self._claim_of(study_id, number))

    def forget(self, study_id: str) -> None:
        self._claims.pop(study_id, None)

    def _claim_of(self, study_id: str, number: int) -> str | None:
        found = self.client.get_experiment_by_name(trial_claim_name(study_id, number))
        return None if found is None else found.tags.get(names.CLAIM_RUN)

    def _search_claims(self, study_id: str) -> list[tuple[int, str]]:
        prefix = trial_claim_name(study_id, 0)[:-1]
        found, token = [], None
        while True:
            page = self.client.search_experiments(view_type=ViewType.ALL, max_results=1000, page_token=token,
                                                  filter_string=f"name LIKE '{prefix}%'")
            for experiment in page:
                number = experiment.name[len(prefix):]
                if experiment.name.startswith(prefix) and number.isdigit() and names.CLAIM_RUN in experiment.tags:
                    found.append((int(number), experiment.tags[names.CLAIM_RUN]))
            token = page.token
            if not token:
                return found

    def claimed_study(self, experiment_id: str, study: str, active: Callable[[str], bool]) -> str | None:
        """The run of the study's latest claim, if that run is active."""
        latest = None
        for generation in range(1, 1000):
            found = self.client.get_experiment_by_name(study_claim_name(experiment_id, study, generation))
            if found is None:
                break
            latest = found.tags.get(names.CLAIM_RUN)
        return latest if latest and active(latest) else None

    def claim_study(self, experiment_id: str, study: str, run_id: str, active: Callable[[str], bool]) -> str:
        """Make `run_id` the study's run unless another active run holds its claim; the study's run."""
        for generation in range(1, 1000):
            owner = self.create_once(study_claim_name(experiment_id, study, generation),
                                     {names.CLAIM_RUN: run_id}).get(names.CLAIM_RUN, "")
            if owner == run_id or active(owner):
                return owner
        raise RuntimeError(f"study {study!r}: 999 study runs were claimed and deleted")  # pragma: no cover


def _state(run: Run) -> TrialState:
    tags = run.data.tags
    status = run.info.status if run.info.status in ("RUNNING", "FINISHED", "FAILED") else "FAILED"
    return TrialState(tags.get(names.STATE, status))


class SlotsMixin:
    """The study store's claims, settlements and heartbeats (mixed into MlflowStudyStore, which gives
    `client`, `book`, `clock`, `_trial_runs`, `_open_run`, `_record`, `_note` and `_settled_runs`)."""

    # -- claims --------------------------------------------------------------------------------------
    def claim_trial(self, study_id: str, proposal: Proposal, budget: int | None, key: str = "",
                    driver: str = "") -> Claim:
        """Open a trial run for `proposal`, claim the next free number for it, and keep it if fewer than
        `budget` slots below that number are taken (else it is given back: STOPPED and deleted)."""
        run_id = self._open_run(study_id, proposal, key, driver or current_driver())
        return self._claim(study_id, run_id, budget, source=proposal.source)

    def start_trial(self, study_id: str, number: int, proposal: Proposal) -> str:
        """Open trial `number` outside any budget (tests, tools); ValueError when the number is taken."""
        run_id = self._open_run(study_id, proposal, "", current_driver())
        return self._claim(study_id, run_id, None, exact=number, source=proposal.source).trial_id

    def _claim(self, study_id: str, run_id: str, budget: int | None, exact: int | None = None,
               source: str = "") -> Claim:
        claims, states, numbered = self._slots(study_id)
        number = exact or max([*claims, *numbered], default=0) + 1
        while True:
            taken = exact is not None and exact in numbered and exact not in claims
            owner = "" if taken else self.book.create_once(trial_claim_name(study_id, number),
                                                           {names.CLAIM_RUN: run_id}).get(names.CLAIM_RUN)
            if owner == run_id:
                break
            if exact is not None:
                self._give_back(run_id, f"trial number {exact} was taken")
                raise ValueError(f"trial number {exact} of study {study_id} is taken")
            number += 1
        # Every number below ours is claimed, each by a run made before its claim: all of them are seen here.
        claims, states, numbered = self._slots(study_id)
        taken = slots_taken(claims, states, numbered, below=number)
        if budget is not None and taken >= budget:
            reason = (f"budget of {budget} trials used or claimed by other drivers "
                      f"(trial number {number} given back)")
            self._give_back(run_id, reason)
            return Claim(number, run_id, False, reason)
        self.client.log_batch(run_id, tags=[RunTag(names.TRIAL, str(number)), RunTag(names.STATE, "RUNNING"),
                                            RunTag(names.RUN_NAME, names.trial_run_name(number, source))])
        return Claim(number, run_id, True)

    def _slots(self, study_id: str) -> tuple[dict[int, str], dict[str, TrialState], dict[int, TrialState]]:
        claims = self.book.trial_claims(study_id)
        # A settled run's record is made once (`_record`): each look reads only the runs still changing.
        records = [self._record(run) for run in self._trial_runs(study_id)]
        states = {record.run_id: record.state for record in records}
        numbered = {record.number: record.state for record in records if record.number > 0}
        return claims, states, numbered

    def slots_held(self, study_id: str) -> int:
        """Slots of the budget taken now: finished, failed, running, or claimed and not yet numbered."""
        return slots_taken(*self._slots(study_id))

    def _give_back(self, run_id: str, why: str) -> None:
        self.client.log_batch(run_id, tags=[RunTag(names.STATE, TrialState.STOPPED.value),
                                            RunTag(names.NOTE, f"**Not run**: {why}.")])
        self.client.set_terminated(run_id, status="KILLED")
        self.client.delete_run(run_id)

    def recorded_round(self, study_id: str, key: str) -> list[tuple[int, str, Proposal]]:
        """The trials the Creator step `key` opened in an earlier attempt: (number, run id, proposal). A run
        it opened but did not number (the attempt died while claiming) is given back."""
        found = []
        for run in self._trial_runs(study_id):
            tags = run.data.tags
            if not key or tags.get(names.ROUND_KEY) != key:
                continue
            number = int(tags.get(names.TRIAL, 0))
            if number == 0:
                self._give_back(run.info.run_id, "its Creator step stopped before claiming it")
                continue
            rationale = tags.get(names.RATIONALE, "")
            # The Creator's usage as it was logged with the proposal: the retried round reports the same cost.
            usage = {k: v for k, v in names.current_metrics(run.data.metrics).items() if k.startswith("llm/creator_")}
            proposal = Proposal(json.loads(tags.get(names.PARAMS, "{}")), tags.get(names.SOURCE, "random"),
                                "" if rationale == "-" else rationale, metrics=usage)
            found.append((number, run.info.run_id, proposal))
        return sorted(found, key=lambda t: t[0])

    def opened_by(self, study_id: str, driver: str) -> set[int]:
        """The numbers of the trials `driver` opened."""
        return {int(run.data.tags.get(names.TRIAL, 0)) for run in self._trial_runs(study_id)
                if run.data.tags.get(names.DRIVER) == driver} - {0}

    def trial(self, trial_id: str) -> TrialRecord | None:
        """One trial as recorded now; None when its run was given back (deleted) or is not numbered yet."""
        run = self.client.get_run(trial_id)
        if run.info.lifecycle_stage == "deleted" or int(run.data.tags.get(names.TRIAL, 0)) == 0:
            return None
        return self._record(run)

    # -- settlements: the first end recorded for a trial is its end ----------------------------------
    def _settle(self, trial_id: str, state: TrialState) -> TrialState:
        run = self.client.get_run(trial_id)
        self._settled_runs = {trial_id: run}  # the latest only: the trial's name is written next
        current = _state(run)
        if current in ENDED:
            return current
        owner = self.book.create_once(settlement_name(trial_id), {names.CLAIM_RUN: trial_id,
                                                                   names.CLAIM_STATE: state.value})
        winner = TrialState(owner.get(names.CLAIM_STATE, state.value))
        if winner != state:  # its writer may have died before writing it: write it (the same for everyone)
            self.client.set_tag(trial_id, names.STATE, winner.value)
            self.client.set_terminated(trial_id, status=RUN_STATUS[winner])
        return winner

    def _late(self, trial_id: str, winner: TrialState, late: TrialState, what: str, value: float | None = None
              ) -> None:
        """A result that came after the trial ended `winner`: kept as information, never counted."""
        line = f"**Late result** (not counted: the trial had already ended {winner.value}): {what}"
        tags = [RunTag(names.LATE_STATE, late.value), RunTag(names.NOTE, self._note(trial_id, line))]
        if value is not None:
            tags.append(RunTag(names.LATE_VALUE, repr(float(value))))
        self.client.log_batch(trial_id, tags=tags)

    def mark_interrupted(self, trial_id: str, why: str) -> bool:
        """INTERRUPTED (not counted) unless the trial already ended; True when it was marked."""
        if _state(self.client.get_run(trial_id)) in ENDED or \
                self._settle(trial_id, TrialState.INTERRUPTED) != TrialState.INTERRUPTED:
            return False
        self.client.log_batch(trial_id, tags=[RunTag(names.STATE, TrialState.INTERRUPTED.value),
                                              RunTag(names.NOTE, f"**Interrupted**: {why}. Not counted.")])
        self.client.set_terminated(trial_id, status=RUN_STATUS[TrialState.INTERRUPTED])
        announce(trial_id, "interrupted")
        return True

    def fail_running(self, study_id: str, error: str, driver: str | None = None) -> list[int]:
        """Mark the RUNNING trials of `driver` (default: this process's, all without one) FAILED (counted):
        used when a step's process crashed."""
        driver = current_driver() if driver is None else driver
        numbers = []
        for run in self._trial_runs(study_id):
            tags = run.data.tags
            if _state(run) != TrialState.RUNNING or (driver and tags.get(names.DRIVER) != driver):
                continue
            if int(tags.get(names.TRIAL, 0)) > 0:
                self.fail_trial(run.info.run_id, error, {}, 0.0)
                numbers.append(int(tags[names.TRIAL]))
        return numbers

    # -- heartbeats ----------------------------------------------------------------------------------
    def heartbeat(self, trial_id: str, interval: float) -> None:
        self.client.log_batch(trial_id, tags=[RunTag(names.HEARTBEAT, f"{self.clock():.3f}"),
                                              RunTag(names.HEARTBEAT_SECONDS, f"{interval:g}")])

    def start_training(self, trial_id: str) -> int:
        """Count a training step starting on the trial; how many had started before (KFP retries)."""
        before = int(self.client.get_run(trial_id).data.tags.get(names.TRAIN_ATTEMPTS, 0))
        self.client.set_tag(trial_id, names.TRAIN_ATTEMPTS, str(before + 1))
        return before

    def reap_stale(self, study_id: str) -> list[int]:
        """Mark stale RUNNING trials INTERRUPTED (their numbers) and give back runs never numbered whose
        claimant is long gone."""
        now, reaped = self.clock(), []
        for run in self._trial_runs(study_id):
            tags, state = run.data.tags, _state(run)
            started = run.info.start_time / 1000
            beat = float(tags[names.HEARTBEAT]) if names.HEARTBEAT in tags else None
            interval = float(tags.get(names.HEARTBEAT_SECONDS, 0)) or None
            if state not in (TrialState.RUNNING, TrialState.PROPOSED) or not is_stale(now, started, beat, interval):
                continue
            number = int(tags.get(names.TRIAL, 0))
            if number == 0:
                self._give_back(run.info.run_id, "its Creator stopped before claiming it")
                continue
            silent = now - (beat if beat is not None else started)
            why = (f"its process stopped: no sign of life for {silent:.0f} s "
                   f"({'heartbeat' if beat is not None else 'never a heartbeat since it was opened'})")
            if self.mark_interrupted(run.info.run_id, why):
                reaped.append(number)
        return reaped
