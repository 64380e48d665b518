"""`agenthpo tune`: run (or resume) a study on KFP's local runner."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from agenthpo import names
from agenthpo.cli.base import EXIT_FAILED, EXIT_OK, _BaseCommand, _load, _positive_int, _with_local_llm
from agenthpo.cli.progress import ProgressPrinter
from agenthpo.cli.timing import print_summary, session_timing
from agenthpo.messages import StopKind
from agenthpo.spec import DEFAULT_TRACKING_URI, StudySpec


class _Tune(_BaseCommand):
    help = "run (or resume) a study on KFP's local runner"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("spec", help="study spec (YAML)")
        parser.add_argument("--trials", type=_positive_int, help="override budget.trials")
        parser.add_argument("--proposer", help="override the proposer (random, tpe, ...)")
        parser.add_argument("--tracking-uri",
                            help=f"MLflow tracking URI (default: the spec's, else {DEFAULT_TRACKING_URI})")
        parser.add_argument("--workdir", default=".agenthpo", help="KFP local outputs and logs (default: .agenthpo)")

    def take_action(self, args: argparse.Namespace) -> int:
        spec = _load(args)
        from agenthpo.llm import local_server

        try:
            spec, started_llm = _with_local_llm(spec)
        except local_server.LocalServerError as exc:
            print(f"agenthpo: no LLM endpoint and the local one cannot start: {exc}", file=sys.stderr)
            return EXIT_FAILED
        try:
            return _tune(args, spec)
        finally:
            if started_llm:
                local_server.stop()


def _tune(args: argparse.Namespace, spec: StudySpec) -> int:
    from agenthpo import study
    from agenthpo.pipelines.local import PipelineFailed, run_to_budget
    from agenthpo.tracking import MlflowStudyStore

    store = MlflowStudyStore(spec.tracking_uri)
    started = time.perf_counter()
    opened = study.open_study(spec, store)
    study_id = opened.study_id
    resumed = f", resuming after {opened.trials_used} trials" if opened.trials_used else ""
    print(f"agenthpo: study {spec.name!r}: {spec.task}, proposer {spec.proposer.name}, "
          f"{spec.budget.trials} trials{resumed}\n  tracking: {spec.tracking_uri} (run {study_id})", flush=True)
    trained_before = {t.number for t in store.history(study_id)}
    workdir = Path(args.workdir).resolve()
    log_path = workdir / "logs" / f"{spec.name}.log"
    progress = ProgressPrinter(spec, store, study_id)
    progress.start()

    def report_failure(exc, crashed: list[int]) -> None:
        print(f"agenthpo: a pipeline step failed ({exc}); trials {crashed or 'none'} marked FAILED",
              file=sys.stderr, flush=True)

    try:
        try:
            run_to_budget(spec, store, study_id, workdir, log_path, on_failure=report_failure)
        except PipelineFailed:
            print("agenthpo: the pipeline fails before any trial starts; giving up", file=sys.stderr)
            return EXIT_FAILED
    finally:
        progress.stop()
    kind, reason = study.stop_reason(spec, store.history(study_id))

    reported = study.report_study(spec, store, study_id)
    wall = time.perf_counter() - started
    history = store.history(study_id)
    trained = [t for t in history if t.number not in trained_before]
    timing = session_timing(wall, history, trained, reported.summary.get(names.LLM_SECONDS_TOTAL, 0.0))
    store.log_metrics(study_id, timing, step=int(time.time()))
    print_summary(spec, reported.best, reported.summary, timing, kind, reason)
    return EXIT_FAILED if kind == StopKind.FAILURES else EXIT_OK

