"""What every command shares: the command class, argument types, loading a spec, the local LLM, errors."""

from __future__ import annotations

import argparse
import os
import sys

from agenthpo.errors import FieldError
from agenthpo.llm.client import LLMAuthError
from agenthpo.redact import install, redact
from agenthpo.spec import StudySpec, load_spec
from agenthpo.tasks.contracts import DataContractError
from agenthpo.tasks.python_function import PYTHON_TASK

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _BaseCommand:
    """One `agenthpo <command>`: its arguments, and what it does with them."""

    help = ""
    document = "spec"  # what a FieldError is about: the file this command reads ("invalid spec: ...")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        pass

    def take_action(self, args: argparse.Namespace) -> int:
        raise NotImplementedError

    def run(self, args: argparse.Namespace) -> int:
        """take_action, with the errors a user can fix said on stderr: the exit status. Whatever the
        command prints or logs is redacted (`agenthpo.redact.install`)."""
        install()
        try:
            return self.take_action(args)
        except FieldError as exc:
            print(f"agenthpo: invalid {self.document}: {redact(str(exc))}", file=sys.stderr)
            return EXIT_USAGE
        except DataContractError as exc:
            print(f"agenthpo: {redact(str(exc))}\nagenthpo: no trial was trained; the failed expectations are in "
                  f"the study run's data_contract.json", file=sys.stderr)
            return EXIT_FAILED
        except LLMAuthError as exc:
            print(f"agenthpo: {redact(str(exc))}\nagenthpo: stopped: no trial is trained with a key the endpoint "
                  f"refuses; fix the key and run the same command again", file=sys.stderr)
            return EXIT_FAILED
        except KeyboardInterrupt:
            print("\nagenthpo: interrupted; run the same command again to resume", file=sys.stderr)
            return 130


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def _name_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"{text!r} names nothing (write e.g. tpe,random)")
    return names


def _cron(text: str) -> str:
    from agenthpo.cluster import kfp_cron

    try:
        return kfp_cron(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _load(args: argparse.Namespace) -> StudySpec:
    """The spec named by `args.spec`, with the command line's --trials, --proposer and --tracking-uri."""
    spec = load_spec(args.spec)
    if spec.task == PYTHON_TASK:
        raise FieldError("task", f"'{PYTHON_TASK}': such a study is trained by your own function from Python "
                                 f"(agenthpo.load_study({spec.name!r}, ...).optimize(fn), or ask()/tell()); "
                                 f"commands run a task plug-in: name one (`agenthpo tasks` lists them)")
    if getattr(args, "trials", None) or getattr(args, "proposer", None) or getattr(args, "tracking_uri", None):
        spec = spec.with_overrides(trials=args.trials, proposer=getattr(args, "proposer", None),
                                   tracking_uri=args.tracking_uri)
    return spec


def _with_local_llm(spec: StudySpec) -> tuple[StudySpec, bool]:
    """An LLM study without a configured endpoint gets the local server; True if we started it. A configured
    endpoint is asked once whether it takes the key: a refused key (LLMAuthError) stops before anything trains."""
    if not spec.uses_llm:
        return spec, False
    if spec.llm.base_url or os.environ.get("OPENAI_BASE_URL"):
        from agenthpo.llm import LLMClient

        LLMClient(spec.llm).check_access()
        return spec, False
    from agenthpo.llm import local_server

    already = local_server.status()
    state = already or local_server.serve()
    print(f"agenthpo: LLM endpoint: local llama.cpp server {state.base_url} (model {state.model})", flush=True)
    return spec.with_overrides(llm_base_url=state.base_url, llm_model=state.model), already is None
