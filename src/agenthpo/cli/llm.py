"""`agenthpo llm serve | stop | status`: the local LLM endpoint (llama.cpp's server on 127.0.0.1)."""

from __future__ import annotations

import argparse
import sys

from agenthpo.cli.base import EXIT_FAILED, EXIT_OK, _BaseCommand, _positive_int


class _Llm(_BaseCommand):
    help = "the local LLM endpoint (llama.cpp's server on 127.0.0.1)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        commands = parser.add_subparsers(dest="llm_command", required=True)
        serve = commands.add_parser("serve", help="start it (or show the one running)")
        serve.add_argument("--model", default="smollm2-135m", help="a packaged model name or a .gguf path")
        serve.add_argument("--port", type=_positive_int, help="default: a free port")
        serve.add_argument("--threads", type=_positive_int,
                           help="CPU threads for the model (default: all cores); fewer leaves cores to training, "
                                "which a model sharing its cores with another busy process needs")
        commands.add_parser("stop", help="stop it")
        commands.add_parser("status", help="say whether it runs, and where")

    def take_action(self, args: argparse.Namespace) -> int:
        from agenthpo.llm import local_server

        try:
            if args.llm_command == "serve":
                state = local_server.serve(args.model, args.port, threads=args.threads)
                print(f"llama.cpp server: {state.base_url} (model {state.model}, pid {state.pid}, log {state.log})")
                print(f"use it with: export OPENAI_BASE_URL={state.base_url}")
            elif args.llm_command == "stop":
                print("stopped" if local_server.stop() else "no local LLM server was running")
            else:
                state = local_server.status()
                print(f"running: {state.base_url} (model {state.model}, pid {state.pid})" if state else "not running")
        except local_server.LocalServerError as exc:
            print(f"agenthpo: {exc}", file=sys.stderr)
            return EXIT_FAILED
        return EXIT_OK
