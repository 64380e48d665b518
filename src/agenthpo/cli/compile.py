"""`agenthpo compile`: the study pipeline as KFP YAML for a cluster."""

from __future__ import annotations

import argparse

from agenthpo.cli.base import EXIT_OK, _BaseCommand, _load, _positive_int


class _Compile(_BaseCommand):
    help = "compile the study pipeline to KFP YAML for a cluster"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("spec")
        parser.add_argument("-o", "--output", required=True, help="where to write the pipeline YAML")
        parser.add_argument("--trials", type=_positive_int, help="iterations to unroll (default: budget.trials)")
        parser.add_argument("--tracking-uri", help="MLflow URI the pipeline's steps will use")

    def take_action(self, args: argparse.Namespace) -> int:
        spec = _load(args)
        from agenthpo.pipelines.study_pipeline import compile_pipeline

        path = compile_pipeline(spec, args.output, args.trials)
        print(f"wrote {path} ({args.trials or spec.budget.trials} trial iterations of study {spec.name!r})")
        return EXIT_OK
