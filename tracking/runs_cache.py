"""A study's trial runs read once each, not on every look (issue 14: history reads cost O(new or changed)).

A trial run that has ended (FINISHED, FAILED or PRUNED) and carries its analysis never changes again: a
trial ends once (`agenthpo.tracking.claims`), and the analysis is the last thing written to it. Such a
run is *settled* and kept. Each look asks MLflow only for
- the runs started since the newest one seen, less CLOCK_SLACK_MS (a run's start time is the clock of the
  process that opened it: pods' clocks may differ a little; runs read again are merely read again), and
- the runs seen before that had not settled yet (running, not yet numbered, waiting for their analysis),
  one `get_run` each; a run deleted since (a slot given back) drops out.

An INTERRUPTED run is never settled: a late result may still be written to it. A settled run deleted by
hand afterwards stays in this view until the process ends (`forget` drops a study's view).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from agenthpo.tracking.records import trial_record
from mlflow.exceptions import MlflowException

from agenthpo import names
from agenthpo.trial import TrialRecord, TrialState

CLOCK_SLACK_MS = 120_000
_ENDED = {TrialState.FINISHED.value, TrialState.FAILED.value, TrialState.PRUNED.value}


def settled(run: Any) -> bool:
    """Ended, analysed and not deleted: nothing will be written to it any more."""
    tags = run.data.tags
    return tags.get(names.STATE) in _ENDED and names.ANALYSIS in tags and run.info.lifecycle_stage == "active"


class TrialRuns:
    """One study's trial runs as last read (thread-safe: `tune`'s progress printer shares the store)."""

    def __init__(self) -> None:
        self.settled: dict[str, Any] = {}
        self.unsettled: set[str] = set()
        self.newest: int | None = None  # the latest start time read (ms since the epoch)
        self.read = 0  # runs fetched from MLflow so far (what the benchmarks and tests count)
        self._lock = threading.Lock()

    def refresh(self, search: Callable[[int | None], Iterable[Any]], get: Callable[[str], Any | None]) -> list:
        """The study's trial runs now. `search(since)` gives the runs started at or after `since` (all with
        None); `get(run_id)` one run, None when it is gone or deleted."""
        with self._lock:
            since = None if self.newest is None else self.newest - CLOCK_SLACK_MS
            found = {run.info.run_id: run for run in search(since)}
            for run_id in self.unsettled - found.keys():
                run = get(run_id)
                if run is not None and run.info.lifecycle_stage == "active":
                    found[run_id] = run
            self.read += len(found)
            self.unsettled = set()
            for run_id, run in found.items():
                self.newest = max(self.newest or 0, run.info.start_time or 0)
                if run_id in self.settled:
                    continue
                if settled(run):
                    self.settled[run_id] = run
                else:
                    self.unsettled.add(run_id)
            return [*self.settled.values(), *(found[run_id] for run_id in self.unsettled)]


class ClaimsSeen:
    """A study's trial claims as last read. A claim never changes once made, and claims are dense: a Creator
    claims the number after the highest it saw, and every number below a claim was claimed first. So the
    first look reads them all, and each later one asks only for the numbers past the highest seen, one by
    one, until one is not claimed (no clock involved)."""

    def __init__(self) -> None:
        self.claims: dict[int, str] = {}
        self.listed = False
        self._lock = threading.Lock()

    def refresh(self, search: Callable[[], Iterable[tuple[int, str]]],
                lookup: Callable[[int], str | None]) -> dict[int, str]:
        """`search()` gives (number, run id) of every claim; `lookup(number)` the run that claimed `number`,
        None when nobody has."""
        with self._lock:
            if not self.listed:
                self.claims.update(search())
                self.listed = True
            number = max(self.claims, default=0) + 1
            while (run_id := lookup(number)) is not None:
                self.claims[number] = run_id
                number += 1
            return dict(self.claims)


class HistoryMixin:
    """The store's reads of a study's trials through `TrialRuns` (mixed into MlflowStudyStore, which gives
    `client`, `book`, `_experiments`, `_runs` and `_records`)."""

    def _trial_runs(self, study_id: str) -> list:
        """The study's trial runs that are not deleted, numbered or not yet (a claim in progress): read
        incrementally (`agenthpo.tracking.runs_cache`), settled runs once per store."""
        if study_id not in self._experiments:
            self._experiments[study_id] = self.client.get_run(study_id).info.experiment_id
        view = self._runs.setdefault(study_id, TrialRuns())
        return view.refresh(lambda since: self._search_trial_runs(study_id, since), self._get_active)

    def _search_trial_runs(self, study_id: str, since: int | None) -> list:
        started = "" if since is None else f" and attributes.start_time >= {int(since)}"
        runs, token = [], None
        while True:
            page = self.client.search_runs(
                [self._experiments[study_id]],
                filter_string=f"tags.`{names.PARENT}` = '{study_id}' and "
                              f"tags.`{names.ROLE}` = '{names.ROLE_TRIAL}'{started}",
                max_results=1000, page_token=token,
            )
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    def _get_active(self, run_id: str):
        try:
            return self.client.get_run(run_id)
        except MlflowException:  # gone (purged)
            return None

    def forget(self, study_id: str) -> None:
        """Read the study's trials afresh at the next look (after runs were deleted by hand)."""
        self._runs.pop(study_id, None)
        self._records.clear()
        self.book.forget(study_id)

    def history(self, study_id: str) -> list[TrialRecord]:
        runs = [run for run in self._trial_runs(study_id) if int(run.data.tags.get(names.TRIAL, 0)) > 0]
        return sorted((self._record(run) for run in runs), key=lambda r: r.number)

    def _record(self, run) -> TrialRecord:
        """The run as a TrialRecord; a settled run's is made once."""
        record = self._records.get(run.info.run_id)
        if record is None:
            record = trial_record(run)
            if settled(run):
                self._records[run.info.run_id] = record
        return record

