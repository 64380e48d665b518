"""`agenthpo tune`: run (or resume) a study on KFP's local runner.

Exit status: 0 done; 1 the study stopped on failures, no trial of it finished, or the tracking server did
not answer; 2 a bad spec, or a resume with another proposer than the study's; 130 / 143 stopped by
SIGINT / SIGTERM (the step processes stopped too, their trials INTERRUPTED: run the command again to resume).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import threading
import time
from contextlib import suppress
from pathlib import Path

from agenthpo import names
from agenthpo.cli.base import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    _BaseCommand,
    _load,
    _positive_int,
    _with_local_llm,
)
from agenthpo.cli.progress import ProgressPrinter
from agenthpo.cli.timing import print_summary, session_timing
from agenthpo.llm.waiting import STATUS_ENV
from agenthpo.messages import StopKind
from agenthpo.slots import current_driver
from agenthpo.spec import DEFAULT_TRACKING_URI, StudySpec, parse_spec
from agenthpo.trial_events import EVENTS_ENV


class _Tune(_BaseCommand):
    help = "run (or resume) a study on KFP's local runner"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("spec", help="study spec (YAML)")
        parser.add_argument("--trials", type=_positive_int, help="override budget.trials (per data generation)")
        parser.add_argument("--trials-per-run", type=_positive_int,
                            help="train at most this many trials in this run (a scheduled retuning's share); the "
                                 "study goes on from there the next time")
        parser.add_argument("--proposer", help="override the proposer (random, tpe, ...); a study goes on with "
                                               "the proposer it was created with")
        parser.add_argument("--name", help="start a new study of this name from the spec (e.g. to try another "
                                           "proposer on the same task)")
        parser.add_argument("--tracking-uri",
                            help=f"MLflow tracking URI (default: the spec's, else {DEFAULT_TRACKING_URI})")
        parser.add_argument("--workdir", default=".agenthpo", help="KFP local outputs and logs (default: .agenthpo)")

    def take_action(self, args: argparse.Namespace) -> int:
        spec = _load(args)
        if args.name:
            spec = parse_spec({**spec.to_json(), "name": args.name}, base_dir=None, source="command line")
        from agenthpo.llm import local_server
        from agenthpo.pipelines import local

        _import_contract_stack(spec)
        workdir = Path(args.workdir).resolve()
        # The first pipeline run's process imports KFP and its warm worker the steps' stack while this one
        # starts the LLM server, creates the store and opens the study (two cores: seconds off each run).
        with local.started_early(spec, workdir, _log_path(workdir, spec)) as early:
            try:
                spec, started_llm = _with_local_llm(spec)
            except local_server.LocalServerError as exc:
                print(f"agenthpo: no LLM endpoint and the local one cannot start: {exc}", file=sys.stderr)
                return EXIT_FAILED
            try:
                return _tune(args, spec, early)
            finally:
                if started_llm:
                    local_server.stop()


def _log_path(workdir: Path, spec: StudySpec) -> Path:
    """KFP's log of the study's pipeline runs (verbose: not shown on the terminal)."""
    return workdir / "logs" / f"{spec.name}.log"


def _again(args: argparse.Namespace) -> str:
    """The command line that resumes this study."""
    words = ["agenthpo", "tune", str(args.spec)]
    for option in ("trials", "trials_per_run", "proposer", "name", "tracking_uri"):
        if getattr(args, option, None):
            words += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
    if args.workdir != ".agenthpo":
        words += ["--workdir", args.workdir]
    return shlex.join(words)


def _proposer_refused(store, spec: StudySpec, args: argparse.Namespace) -> bool:
    """A study goes on with the proposer it was created with: say so (and how else) when asked for another."""
    study_id = store.find_study(spec.name, spec.experiment_name)
    if study_id is None:
        return False
    try:
        stored = store.load_spec(study_id).proposer.name
    except Exception:  # no readable spec.json (a study from an older version): nothing to compare with
        return False
    if stored == spec.proposer.name:
        return False
    print(f"agenthpo: study {spec.name!r} was created with proposer {stored!r}; it does not go on with "
          f"{spec.proposer.name!r} (one study, one proposer: its trials and report would mix two).\n"
          f"  resume it:       agenthpo tune {shlex.quote(str(args.spec))} --proposer {stored}\n"
          f"  or a new study:  agenthpo tune {shlex.quote(str(args.spec))} --proposer {spec.proposer.name} "
          f"--name {shlex.quote(f'{spec.name}-{spec.proposer.name}')}", file=sys.stderr)
    return True


def _tune(args: argparse.Namespace, spec: StudySpec, early=None) -> int:
    from agenthpo.faults import StopSignal, TrackingUnavailable, raising_signals
    from agenthpo.tracking import MlflowStudyStore

    store = MlflowStudyStore(spec.tracking_uri)
    if early is not None:
        early.store_created()
    session = _Session(args, spec, store, early)
    with raising_signals():
        try:
            if _proposer_refused(store, spec, args):
                return EXIT_USAGE
            return session.run()
        except StopSignal as stop:
            return session.stopped(stop)
        except TrackingUnavailable as exc:
            print(f"agenthpo: {exc}\nagenthpo: nothing more can be recorded now; once the tracking server "
                  f"answers, resume with: {_again(args)}", file=sys.stderr)
            return EXIT_FAILED


def _in_background(name: str, imports) -> None:
    """Run `imports` in a daemon thread while this process waits; a failure is left to the code that needs
    the modules, which imports them itself and says what is missing."""
    def run() -> None:
        with suppress(Exception):
            imports()

    threading.Thread(target=run, name=name, daemon=True).start()


def _import_contract_stack(spec: StudySpec) -> None:
    """Import great-expectations for the task's data contract in a thread while this process waits for the
    LLM server and creates the store, rather than in the open step (about 2.5 s). A resume whose data did not
    change checks nothing: the import then only used time this process spent waiting."""
    def imports() -> None:
        from agenthpo.tasks import load_task
        from agenthpo.tasks.contracts import has_contract, import_validator

        # The spec's check loaded the plug-in already, in the main thread: no plug-in module is run here.
        if has_contract(load_task(spec.task)):
            import_validator()

    _in_background("contract-imports", imports)


def _import_report_stack(uses_llm: bool) -> None:
    """Import what the final report needs (matplotlib; the OpenAI SDK for the final analysis) while the
    pipeline runs, when this process only waits, rather than after the last trial (about 1.5 s)."""
    def imports() -> None:
        from agenthpo.plots import pyplot

        pyplot()
        import agenthpo.report_html  # noqa: F401
        if uses_llm:
            import openai  # noqa: F401

    _in_background("report-imports", imports)


class _Session:
    """One `tune` run over a study: open or resume it, run its pipeline to the budget, report."""

    def __init__(self, args: argparse.Namespace, spec: StudySpec, store, early=None):
        """`early`: the first pipeline run's process, started before the store (`local.started_early`)."""
        self.args, self.spec, self.store, self.early = args, spec, store, early
        self.study_id: str | None = None
        self.progress: ProgressPrinter | None = None

    def run(self) -> int:
        from agenthpo import study
        from agenthpo.pipelines.local import PipelineFailed, run_to_budget

        spec, store, args = self.spec, self.store, self.args
        started = time.perf_counter()
        opened = study.open_study(spec, store)
        study_id = self.study_id = opened.study_id
        resumed = f", resuming after {opened.trials_used} trials" if opened.trials_used else ""
        generation = f" of generation {opened.generation}" if opened.generation > 1 else ""
        print(f"agenthpo: study {spec.name!r}: {spec.task}, proposer {spec.proposer.name}, "
              f"{spec.budget.trials} trials{generation}{resumed}\n  tracking: {spec.tracking_uri} (run {study_id})",
              flush=True)
        if opened.began:
            print(f"agenthpo: {opened.began}", flush=True)
        workdir = Path(args.workdir).resolve()
        log_path = _log_path(workdir, spec)
        # The LLM call running now, in any step (they inherit the variable): shown while it waits.
        llm_status = workdir / "logs" / f"{spec.name}.{os.getpid()}.llm-status.json"
        events = llm_status.with_name(f"{spec.name}.{os.getpid()}.trial-events")
        events.unlink(missing_ok=True)
        before = {name: os.environ.get(name) for name in (STATUS_ENV, EVENTS_ENV)}
        os.environ[STATUS_ENV], os.environ[EVENTS_ENV] = str(llm_status), str(events)
        self.progress = ProgressPrinter(spec, store, study_id, llm_status=llm_status, events=events)
        self.progress.start()

        def report_failure(exc, crashed: list[int]) -> None:
            print(f"agenthpo: a pipeline step failed ({exc}); trials {crashed or 'none'} marked FAILED",
                  file=sys.stderr, flush=True)

        _import_report_stack(spec.uses_llm)
        try:
            try:
                run_to_budget(spec, store, study_id, workdir, log_path, on_failure=report_failure,
                              per_run=args.trials_per_run, early=self.early)
            except PipelineFailed as exc:
                print(f"agenthpo: the pipeline fails before any trial starts ({exc}); giving up", file=sys.stderr)
                return EXIT_FAILED
            current = study.current_trials(store, study_id)
            kind, reason = study.stop_reason(spec, current)
            if kind is None:  # stopped by --trials-per-run: the next run goes on
                left = spec.budget.trials - study.counted(current)[0]
                reason = (f"this run's share of {args.trials_per_run} trials trained (--trials-per-run); "
                          f"{left} of the generation's {spec.budget.trials} are left for the next runs")

            reported = study.report_study(spec, store, study_id)  # its final analysis is shown waiting too
        finally:
            self.progress.stop(wait=30.0)  # a poll stuck retrying through an outage is left behind
            for name, value in before.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            events.unlink(missing_ok=True)
        wall = time.perf_counter() - started
        history = store.history(study_id)
        mine = store.opened_by(study_id, current_driver())  # this driver's trials: no session counts another's
        trained = [t for t in history if t.number in mine]
        timing = session_timing(wall, history, trained, reported.summary.get(names.LLM_SECONDS_TOTAL, 0.0))
        store.log_session(study_id, timing)
        none_finished = not any(t.finished for t in study.current_trials(store, study_id, history))
        print_summary(spec, reported.best, reported.summary, timing, kind, reason, none_finished=none_finished,
                      experiment_id=store.experiment_id(spec.experiment_name))
        return EXIT_FAILED if kind == StopKind.FAILURES or none_finished else EXIT_OK

    def stopped(self, stop) -> int:
        """After SIGINT or SIGTERM (the pipeline's processes are stopped and its trials marked by then)."""
        from agenthpo.faults import StopSignal
        from agenthpo.pipelines.local import mark_study_interrupted

        try:
            if self.progress is not None:
                self.progress.stop(wait=2.0)
            marked = ""
            if self.study_id is not None:
                mark_study_interrupted(self.store, self.study_id, f"interrupted by {stop.name}; resume with: "
                                                                  f"{_again(self.args)}")
                marked = (f"; trials {stop.trials} marked INTERRUPTED (not counted)" if stop.trials else "") + \
                    "; the study run is KILLED"
            print(f"\nagenthpo: stopped by {stop.name}{marked}\nagenthpo: to resume, run: {_again(self.args)}",
                  file=sys.stderr, flush=True)
        except (StopSignal, Exception) as exc:  # a second signal, or the tracking server down: just go
            print(f"\nagenthpo: stopped by {stop.name} ({type(exc).__name__} while recording it); to resume, "
                  f"run: {_again(self.args)}", file=sys.stderr, flush=True)
        return stop.exit_status
