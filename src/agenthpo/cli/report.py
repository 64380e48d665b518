"""`agenthpo report`: a study's report, read back from MLflow."""

from __future__ import annotations

import argparse
import sys

from agenthpo.cli.base import EXIT_FAILED, EXIT_OK, _BaseCommand
from agenthpo.messages import StopKind
from agenthpo.spec import DEFAULT_TRACKING_URI, absolute_sqlite_uri


class _Report(_BaseCommand):
    help = "print a study's report from MLflow"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("study", help="study name (the spec's `name`)")
        parser.add_argument("--tracking-uri", default=DEFAULT_TRACKING_URI)
        parser.add_argument("--experiment", help="look only in this MLflow experiment")

    def take_action(self, args: argparse.Namespace) -> int:
        from agenthpo import study
        from agenthpo.report import build_report
        from agenthpo.tracking import MlflowStudyStore

        store = MlflowStudyStore(absolute_sqlite_uri(args.tracking_uri))
        study_id = store.find_study(args.study, args.experiment)
        if study_id is None:
            print(f"agenthpo: no study named {args.study!r} in {args.tracking_uri}", file=sys.stderr)
            return EXIT_FAILED
        spec = store.load_spec(study_id)
        history = store.history(study_id)
        kind, reason = study.stop_reason(spec, history)
        print(build_report(spec.name, spec.space, history, spec.objective, reason if kind == StopKind.FAILURES else ""))
        return EXIT_OK
