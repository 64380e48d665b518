"""`agenthpo report`: a study's report, read back from MLflow, with the LLM's final analysis when it wrote one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agenthpo.cli.base import EXIT_FAILED, EXIT_OK, _BaseCommand
from agenthpo.messages import StopKind
from agenthpo.spec import DEFAULT_TRACKING_URI, absolute_sqlite_uri, load_spec

SPEC_SUFFIXES = (".yaml", ".yml")


class _Report(_BaseCommand):
    help = "print a study's report from MLflow (name the study, or its spec to use the spec's tracking URI)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("study", help="a spec file (its name, tracking_uri and experiment are used) or a "
                                          "study's name")
        parser.add_argument("--tracking-uri", help=f"default: the spec's, else {DEFAULT_TRACKING_URI}")
        parser.add_argument("--experiment", help="look only in this MLflow experiment")

    def take_action(self, args: argparse.Namespace) -> int:
        from agenthpo import study
        from agenthpo.generations import generations_section
        from agenthpo.report import build_report, final_section

        name, uri, experiment = _target(args)
        missing = _missing_database(uri)
        if missing:  # opening it would create an empty database and report "no study"
            print(f"agenthpo: no MLflow database at {missing}: give the spec, or --tracking-uri where the study "
                  f"was recorded", file=sys.stderr)
            return EXIT_FAILED
        from agenthpo.tracking import MlflowStudyStore

        store = MlflowStudyStore(uri)
        study_id = store.find_study(name, experiment)
        if study_id is None:
            print(f"agenthpo: no study named {name!r} in {uri}", file=sys.stderr)
            return EXIT_FAILED
        spec = store.load_spec(study_id)
        every = store.history(study_id)
        history = study.current_trials(store, study_id, every)
        kind, reason = study.stop_reason(spec, history)
        print(build_report(spec.name, spec.space, history, spec.objective, reason if kind == StopKind.FAILURES else ""))
        print(generations_section(every, spec.objective), end="")
        final = final_section(store.stored_report(study_id))
        if final:
            print(final)
        return EXIT_OK


def _target(args: argparse.Namespace) -> tuple[str, str, str | None]:
    """(study name, tracking URI, experiment) from a spec file or a name and the options."""
    if args.study.endswith(SPEC_SUFFIXES) or Path(args.study).is_file():
        spec = load_spec(args.study)
        return (spec.name, absolute_sqlite_uri(args.tracking_uri) if args.tracking_uri else spec.tracking_uri,
                args.experiment or spec.experiment_name)
    return args.study, absolute_sqlite_uri(args.tracking_uri or DEFAULT_TRACKING_URI), args.experiment


def _missing_database(uri: str) -> str:
    """The SQLite file a sqlite:/// URI names when it does not exist; '' otherwise."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or ":memory:" in uri:
        return ""
    path = Path(uri[len(prefix):])
    return "" if path.exists() else str(path)
