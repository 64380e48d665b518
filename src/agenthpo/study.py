"""The steps of a study, one function per pipeline step, each a plain call over a store.

open -> (create -> train -> analyze) x trials -> report. Every step reads what it needs from the
store (MLflow in practice, `agenthpo.tracking`), so each can run in its own process or pod; the steps
hand each other the value objects of `agenthpo.messages`. A training crash is recorded as a FAILED
trial, never raised: the study goes on. `run_inprocess` runs the same steps in one process.

Any number of drivers may run one study at once (`agenthpo.slots`): the Creator claims each trial's
slot before anything trains, so numbers are unique and the budget is never overrun; a driver whose
remaining budget is held by other drivers' running trials waits for them (or for their heartbeats to
go stale). Steps are idempotent for KFP's retries: a retried Creator returns the trials it opened
(`create_round`'s key), a retried training step never trains a trial twice (`train_step`).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from agenthpo.agents.quality import tag_value
from agenthpo.baseline import objective_series, trivial_baseline
from agenthpo.executor import analyze_trial
from agenthpo.generations import (
    Generation,
    PriorInformed,
    current_trials,
    earlier_slots,
    generations_section,
    latest_generation,
    next_generation,
    of_generation,
    prior_trials,
    warm_starts,
)
from agenthpo.messages import BestTrial, Reported, Round, StopKind, StudyOpened, TrialConfig
from agenthpo.proposers import ProposerContext, make_proposer
from agenthpo.proposers.base import with_pending
from agenthpo.pruning import Peer
from agenthpo.report import FINAL_HEADING, SET_ASIDE, build_report
from agenthpo.report_html import HISTORY_CHART, report_charts, report_page
from agenthpo.slots import Claim, become_driver, current_driver, poll_seconds
from agenthpo.spec import StudySpec
from agenthpo.study_summary import final_analysis, llm_totals, study_summary
from agenthpo.tasks import TrialContext, load_task
from agenthpo.tasks.contracts import contract_reports, data_fingerprint, enforce
from agenthpo.training import curves_plot, train_step, train_trial  # noqa: F401 - steps of the study, here too
from agenthpo.trial import Proposal, TrialRecord, TrialState, best_trial

Curves = Mapping[str, Sequence[tuple[int, float]]]


class StudyStore(Protocol):
    """What the steps need from tracking; `agenthpo.tracking.MlflowStudyStore` implements it."""

    def open_study(self, spec: StudySpec) -> str: ...
    def history(self, study_id: str) -> list[TrialRecord]: ...
    def start_trial(self, study_id: str, number: int, proposal: Proposal) -> str: ...
    def claim_trial(self, study_id: str, proposal: Proposal, budget: int | None, key: str = "",
                    driver: str = "") -> Claim: ...
    def slots_held(self, study_id: str) -> int: ...
    def reap_stale(self, study_id: str) -> list[int]: ...
    def recorded_round(self, study_id: str, key: str) -> list[tuple[int, str, Proposal]]: ...
    def trial(self, trial_id: str) -> TrialRecord | None: ...
    def heartbeat(self, trial_id: str, interval: float) -> None: ...
    def start_training(self, trial_id: str) -> int: ...
    def finish_trial(self, trial_id: str, value: float, metrics: Mapping[str, float], curves: Curves,
                     train_seconds: float, plot: Path | None) -> None: ...
    def fail_trial(self, trial_id: str, error: str, curves: Curves, train_seconds: float) -> None: ...
    def prune_trial(self, trial_id: str, step: int, reason: str, curves: Curves, train_seconds: float,
                    plot: Path | None, reads: Mapping[str, float], rungs: int | None = None) -> None: ...
    def peer_curves(self, study_id: str, metric: str, known: set[str]) -> dict[str, Peer]: ...
    def curves(self, trial_id: str) -> dict[str, list[tuple[int, float]]]: ...
    def write_analysis(self, trial_id: str, facts: Mapping[str, Any], note: str) -> None: ...
    def write_report(self, study_id: str, markdown: str, plot: Path | None, summary: Mapping[str, float],
                     stopped: str, quality: str = "", html: str = "", header: str = "") -> None: ...
    def write_progress(self, study_id: str, metric: str, series: Sequence[tuple[int, float, float]],
                       best_run_id: str, baseline: tuple[float, str] | None) -> str: ...
    def write_profile(self, study_id: str, profile: Mapping[str, Any]) -> None: ...
    def contract_fingerprint(self, study_id: str) -> str: ...
    def write_contract(self, study_id: str, reports: Sequence[Mapping[str, Any]], fingerprint: str) -> None: ...
    def profile(self, study_id: str) -> dict[str, Any]: ...
    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None: ...
    def find_study(self, name: str, experiment: str | None = None) -> str | None: ...
    def generation(self, study_id: str) -> Generation: ...
    def begin_generation(self, study_id: str, generation: Generation, note: str) -> None: ...


def counted(history: Sequence[TrialRecord]) -> tuple[int, int]:
    """(trials that count against the budget, failed trials): `TrialState.counts_against_budget`."""
    used = sum(t.state.counts_against_budget for t in history)
    failed = sum(t.state == TrialState.FAILED for t in history)
    return used, failed


def stop_reason(spec: StudySpec, history: Sequence[TrialRecord]) -> tuple[StopKind | None, str]:
    """(kind, message) saying why no further trial may start; (None, '') while the study goes on."""
    used, failed = counted(history)
    if failed >= spec.budget.max_failed_trials:
        return StopKind.FAILURES, (f"{failed} trials failed, reaching budget.max_failed_trials="
                                   f"{spec.budget.max_failed_trials}; see the failed trials' agenthpo.error tags")
    if used >= spec.budget.trials:
        return StopKind.BUDGET, f"budget of {spec.budget.trials} trials used"
    return None, ""


def open_study(spec: StudySpec, store: StudyStore) -> StudyOpened:
    """Create or resume the study; the data must pass its contract before any trial trains on it.

    Raises DataContractError (after recording the failed expectations on the study run) when the
    data breaks the task's contract. This process becomes a driver (`agenthpo.slots.become_driver`): the
    step processes it starts tag the trials they open with its id.
    """
    become_driver()
    study_id = store.open_study(spec)
    task = load_task(spec.task)
    ctx = TrialContext.for_spec(spec)
    fingerprint = data_fingerprint(spec)  # one walk over the data files, for the contract and the generation
    check_data_contract(spec, store, study_id, task, ctx, fingerprint)
    history = store.history(study_id)
    generation, began = next_generation(spec, store, study_id, history, fingerprint)
    if not history:
        # Profiled once, for the Creator's background; a task may have no profile (then nothing is written).
        profile = getattr(task, "profile", None)
        statistics = profile(ctx) if profile is not None else {}
        if statistics:
            store.write_profile(study_id, statistics)
    used, failed = counted(of_generation(history, generation))
    return StudyOpened(study_id, used, failed, generation, began)


def check_data_contract(spec: StudySpec, store: StudyStore, study_id: str, task, ctx: TrialContext,
                        fingerprint: str) -> None:
    """Run the task's data contract unless this very data already passed it for this study."""
    check = getattr(task, "check_data", None)
    if check is None:
        return
    if store.contract_fingerprint(study_id) == fingerprint:
        return
    reports = contract_reports(spec, task, ctx)
    if not reports:
        return  # the task has no contract (TaskPlugin's default): nothing to record
    store.write_contract(study_id, [r.to_json() for r in reports], fingerprint)
    enforce(spec.data or spec.task, reports)


def proposer_context(spec: StudySpec, store: StudyStore, study_id: str, prior: Sequence[TrialRecord] = ()
                     ) -> ProposerContext:
    if not spec.uses_llm:
        return ProposerContext(study=spec.name)
    task = load_task(spec.task)
    return ProposerContext(study=spec.name, description=spec.description, model=task.description,
                           dataset=store.profile(study_id), llm=spec.llm, prior=tuple(prior))


def create_trial(spec: StudySpec, store: StudyStore, study_id: str) -> TrialConfig:
    """The Creator step of a sequential study: one configuration, or a STOPPED one when the budget is used."""
    return create_round(spec, store, study_id, slots=1).slot(0)


def create_round(spec: StudySpec, store: StudyStore, study_id: str, slots: int | None = None, key: str = "",
                 driver: str = "") -> Round:
    """The Creator step of a round: read the history, propose up to `slots` (the spec's `parallel`)
    distinct configurations at once and claim a trial slot for each; fewer when less budget is left.

    While the budget left is held by other drivers' running trials, it waits for them to end (or to go
    stale: they are then INTERRUPTED and their slots taken). `key` names this Creator step (a KFP run
    id and task name, `round_key`): a retried step returns the trials it already opened. `driver`
    (default: $AGENTHPO_DRIVER) is tagged on the trials.
    """
    slots = spec.parallel if slots is None else slots
    driver = driver or current_driver()
    configs = [TrialConfig(study_id, TrialState.PROPOSED, number, trial_id, proposal)
               for number, trial_id, proposal in (store.recorded_round(study_id, key) if key else [])]
    generation = store.generation(study_id).number
    while True:
        history = store.history(study_id)
        kind, reason = stop_reason(spec, of_generation(history, generation))
        if kind is not None or len(configs) >= slots:
            break
        # The claims count every trial number's slot: this generation's budget starts after the earlier ones'.
        budget = spec.budget.trials + earlier_slots(history, generation)
        free = budget - store.slots_held(study_id)
        if free > 0:
            configs += _claim_round(spec, store, study_id, history, min(slots - len(configs), free), key,
                                    driver, generation, budget)
            if configs:
                break
        elif configs:
            break
        elif store.reap_stale(study_id):
            continue
        time.sleep(poll_seconds())  # slots held by other drivers' running trials: look again
    if configs:
        return Round(study_id, tuple(configs))
    return Round(study_id, stop=kind, reason=reason)


def _claim_round(spec: StudySpec, store: StudyStore, study_id: str, history: list[TrialRecord], n: int, key: str,
                 driver: str, generation: int = 1, budget: int | None = None) -> list[TrialConfig]:
    """Propose n configurations and claim a slot for each, in order, until a claim is refused: the start
    configuration and the warm starts first, then the proposer's, which sees this generation's trials
    (earlier generations' only as a prior). `history`: the study's trials as the caller just read them
    (another driver's trial opened since then cannot share a number: the claims decide)."""
    current = of_generation(history, generation)
    proposals: list[Proposal] = []
    start = start_proposal(spec, history)
    if start is not None:
        proposals.append(start)
    proposals += warm_starts(spec, store, history, generation)[:n - len(proposals)]
    if len(proposals) < n:
        prior = prior_trials(history, generation)
        proposer = make_proposer(spec.proposer.name, spec.objective, spec.seed, dict(spec.proposer.options),
                                 context=proposer_context(spec, store, study_id, prior))
        if prior and not spec.uses_llm:  # the model sees the previous generation by rank only (the agent's
            proposer = PriorInformed(proposer, latest_generation(prior), spec.objective)  # model side: its own)
        # The start configuration is taken: the proposer sees it as a running trial (no duplicate).
        proposals += proposer.propose(spec.space, with_pending(current, proposals), n - len(proposals))
    opened = []
    for proposal in proposals:
        tagged = dataclasses.replace(proposal, tags={**proposal.tags, "generation": str(generation)})
        claim = store.claim_trial(study_id, tagged, spec.budget.trials if budget is None else budget, key, driver)
        if not claim.granted:
            break
        opened.append(TrialConfig(study_id, TrialState.PROPOSED, claim.number, claim.trial_id, proposal))
    return opened


def round_key(job_id: str, task_name: str) -> str:
    """A Creator step's key from KFP's placeholders; '' when they were not filled in (not run by KFP)."""
    if not job_id or not task_name or "{{" in job_id + task_name:
        return ""
    return f"{job_id}/{task_name}"


def start_proposal(spec: StudySpec, history: Sequence[TrialRecord]) -> Proposal | None:
    """The spec's `start` configuration while it has not been trained (an interrupted try does not count)."""
    if spec.start is None or any(t.source == "start" and t.state != TrialState.INTERRUPTED for t in history):
        return None
    return Proposal(dict(spec.start), "start", "the spec's start configuration: every proposer trains it first, "
                                              "so that all of them begin from the same point")


def run_inprocess(spec: StudySpec, store: StudyStore, study_id: str) -> None:
    """Run the study's rounds to its budget in this process (a round's trials one after another):
    the same steps, in the same order, as the pipeline runs them in separate processes."""
    while True:
        proposed = create_round(spec, store, study_id)
        if proposed.stop is not None:
            return
        for config in proposed.configs:
            analyze_trial(spec, store, config, train_step(spec, store, config))


def report_study(spec: StudySpec, store: StudyStore, study_id: str, html_path: str = "") -> Reported:
    """The final report on the study run: Markdown, the history chart, and an HTML page with the charts
    (also written to `html_path`: the Kubeflow UI's HTML output)."""
    every = store.history(study_id)
    history = current_trials(store, study_id, every)  # a changed data set's values are never compared
    kind, reason = stop_reason(spec, history)
    stopped = reason if kind == StopKind.FAILURES else ""
    markdown = build_report(spec.name, spec.space, history, spec.objective, stopped)
    markdown += "\n" + generations_section(every, spec.objective) if len(every) > len(history) else ""
    best = best_trial(history, spec.objective)
    summary = study_summary(spec.objective, history, *counted(history))
    quality = ""
    if spec.uses_llm:
        analysis, final_usage, checked = final_analysis(spec, history)
        if analysis and checked.ok:
            markdown += f"\n{FINAL_HEADING}\n\n" + analysis + "\n"
        elif analysis:  # the deterministic report stands alone; the reader learns why
            markdown += f"\n{SET_ASIDE} {checked.describe()}.*\n"
        quality = tag_value({"final": checked}) if analysis else ""
        summary.update(llm_totals(spec, every, final_usage))
    # First lines of the study run's note: the best trial (linked) and the trivial baseline beside it.
    baseline = trivial_baseline(spec.objective.metric, store.profile(study_id))
    header = store.write_progress(study_id, spec.objective.metric, objective_series(history, spec.objective),
                                  best.run_id if best is not None else "", baseline)
    with tempfile.TemporaryDirectory() as folder:
        charts = report_charts(spec, history, Path(folder))
        page = report_page(f"agenthpo study {spec.name}", markdown, {c: p.read_bytes() for c, p in charts.items()})
        if html_path:
            Path(html_path).write_text(page)
        store.write_report(study_id, markdown, charts.get(HISTORY_CHART), summary, stopped, quality=quality,
                           html=page, header=header)
    return Reported(study_id, markdown, summary, stopped=stopped,
                    best=None if best is None else BestTrial(best.number, float(best.value), dict(best.params)))
