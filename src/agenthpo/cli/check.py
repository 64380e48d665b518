"""`agenthpo check SPEC`: the spec, its plug-in and its data, checked without training or recording anything.

Exit status: 0 ready to tune; 1 the data breaks its contract (or cannot be read); 2 a bad spec.
"""

from __future__ import annotations

import argparse
import json

from agenthpo.cli.base import EXIT_FAILED, EXIT_OK, _BaseCommand, _load

PROFILE_LINES = 25  # of the dataset profile shown (the Creator reads all of it)


class _Check(_BaseCommand):
    help = "check a spec, its task plug-in and its data contract without training (exit 0 ready, 1 data, 2 spec)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("spec", help="path to a study spec (YAML)")
        parser.add_argument("--profile", action="store_true", help="also print the dataset profile the Creator reads")

    def take_action(self, args: argparse.Namespace) -> int:
        from agenthpo.tasks import TrialContext, load_task
        from agenthpo.tasks.contracts import contract_reports

        args.trials = args.proposer = args.tracking_uri = None  # _load's overrides: none here
        spec = _load(args)  # FieldError (exit 2) for the spec, its task options and its metric
        print(f"spec: {args.spec}: study {spec.name!r}, task {spec.task}, {spec.objective.direction} "
              f"{spec.objective.metric}, proposer {spec.proposer.name}, {spec.budget.trials} trials, "
              f"{len(spec.space)} hyperparameters ({', '.join(spec.space.names)})")
        task = load_task(spec.task)
        ctx = TrialContext.for_spec(spec)
        print(f"data: {spec.data or '(none: the task makes its own)'}")
        reports = contract_reports(spec, task, ctx)
        for report in reports:
            verdict = "passed" if report.passed else f"FAILED ({len(report.failures)})"
            print(f"  {report.table}: {report.rows:,} rows, {report.checked} expectations: {verdict}")
            for failure in report.failures:
                print(f"    - {failure}")
        if not reports:
            print("  (this task declares no data contract)")
        if any(not report.passed for report in reports):
            print("agenthpo: the data breaks its contract: no study would train on it")
            return EXIT_FAILED
        if args.profile:
            profile = getattr(task, "profile", None)
            lines = json.dumps(profile(ctx) if profile else {}, indent=2, default=str).splitlines()
            more = len(lines) - PROFILE_LINES
            tail = f"\n  ... ({more} more lines)" if more > 0 else ""
            print("profile:\n" + "\n".join(lines[:PROFILE_LINES]) + tail)
        print(f"ready: agenthpo tune {args.spec}")
        return EXIT_OK
