"""`agenthpo init | tune | check | bench | report | tasks | llm | compile | submit | schedule`: the command line.

One module per command, each a `_BaseCommand` (its arguments, its action) registered in `_COMMANDS`; the
commands are thin layers over the library.

Exit status: 0 done; 1 the study stopped on failures, no trial finished, its data broke the data contract,
the LLM endpoint refused the key, or it could not run; 2 a bad spec, suite or argument; 130 / 143 stopped
by SIGINT / SIGTERM (running trials interrupted, not counted; run the same command again to resume).
"""

from __future__ import annotations

import argparse
import os

from agenthpo.cli.base import EXIT_FAILED, EXIT_OK, EXIT_USAGE, _BaseCommand
from agenthpo.cli.bench import _Bench
from agenthpo.cli.check import _Check
from agenthpo.cli.compile import _Compile
from agenthpo.cli.init import _Init
from agenthpo.cli.kfp import _Schedule, _Submit
from agenthpo.cli.llm import _Llm
from agenthpo.cli.report import _Report
from agenthpo.cli.tasks import _Tasks
from agenthpo.cli.tune import _Tune

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

# In the order `agenthpo --help` lists them.
_COMMANDS: dict[str, type[_BaseCommand]] = {
    "init": _Init,
    "tune": _Tune,
    "check": _Check,
    "bench": _Bench,
    "report": _Report,
    "tasks": _Tasks,
    "llm": _Llm,
    "compile": _Compile,
    "submit": _Submit,
    "schedule": _Schedule,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agenthpo", description="Hyperparameter optimisation by LLM agents, "
                                     "as Kubeflow pipeline iterations tracked in MLflow.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, command_type in _COMMANDS.items():
        command = command_type()
        subparser = subparsers.add_parser(name, help=command.help)
        command.add_arguments(subparser)
        subparser.set_defaults(handler=command)
    return parser


def main(argv: list[str] | None = None) -> int:
    from agenthpo import redact

    redact.install()  # before argparse may print: every text this process writes is redacted
    args = build_parser().parse_args(argv)
    # MLflow draws a progress bar for every artifact it reads back (specs, profiles): noise in a terminal.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return args.handler.run(args)
