"""`agenthpo compile`: the study pipeline as KFP YAML for a cluster.

A compiled pipeline unrolls one Creator/train/analyze step triple per trial, so it holds at most
MAX_COMPILED_TRIALS (500) trials; `compile`, `submit` and `schedule` refuse more (exit status 2) before anything is
written or sent. A larger study runs as several pipeline runs, each continuing it from MLflow: `--trials N` per
run, or `schedule --trials-per-run N`.
"""

from __future__ import annotations

import argparse

from agenthpo.cli.base import EXIT_OK, _BaseCommand, _load, _positive_int
from agenthpo.errors import FieldError
from agenthpo.limits import MAX_COMPILED_TRIALS


def check_unrolled(trials: int, field: str, spec_path: str) -> None:
    """FieldError naming `field` (`budget.trials` in the spec, or a command-line flag) when a pipeline would unroll
    more than MAX_COMPILED_TRIALS trials."""
    if trials > MAX_COMPILED_TRIALS:
        raise FieldError(field, f"{trials:,} trials is more than a compiled pipeline holds ({MAX_COMPILED_TRIALS}: "
                                f"it unrolls one Creator/train/analyze step triple per trial); run the study in parts "
                                f"of at most {MAX_COMPILED_TRIALS}, each continuing it: `schedule --trials-per-run N`, "
                                f"or `--trials N` per compiled or submitted run",
                         source="command line" if field.startswith("--") else spec_path)


class _Compile(_BaseCommand):
    help = "compile the study pipeline to KFP YAML for a cluster"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("spec")
        parser.add_argument("-o", "--output", required=True, help="where to write the pipeline YAML")
        parser.add_argument("--trials", type=_positive_int, help=f"iterations to unroll (default: budget.trials; at "
                                                                 f"most {MAX_COMPILED_TRIALS})")
        parser.add_argument("--tracking-uri", help="MLflow URI the pipeline's steps will use")

    def take_action(self, args: argparse.Namespace) -> int:
        spec = _load(args)
        trials = args.trials or spec.budget.trials
        check_unrolled(trials, "--trials" if args.trials else "budget.trials", args.spec)
        from agenthpo.pipelines.study_pipeline import compile_pipeline

        path = compile_pipeline(spec, args.output, args.trials)
        print(f"wrote {path} ({trials} trial iterations of study {spec.name!r})")
        return EXIT_OK
