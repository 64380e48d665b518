"""`agenthpo bench`: run (or resume) a benchmark suite: specs x proposers x repeats."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agenthpo.cli.base import EXIT_FAILED, EXIT_OK, _BaseCommand, _name_list, _positive_int, _with_local_llm


class _Bench(_BaseCommand):
    help = "run (or resume) a benchmark suite: specs x proposers x repeats"
    document = "suite"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("suite", help="suite file (YAML), e.g. benchmarks/tiny.yaml")
        parser.add_argument("--repeats", type=_positive_int, help="override the suite's repeats")
        parser.add_argument("--trials", type=_positive_int, help="override the suite's trials per study")
        parser.add_argument("--proposers", type=_name_list, help="override the proposers, e.g. tpe,random")
        parser.add_argument("--pruners", type=_name_list,
                            help="override the pruners compared for each proposer, e.g. none,median")
        parser.add_argument("--human-trials", type=int,
                            help="override the best-human baseline's random trials (0: none)")
        parser.add_argument("--out", help="folder for results.md, results.json and the plots (default: the suite's)")
        parser.add_argument("--tracking-uri", help="MLflow tracking URI (default: the suite's)")
        parser.add_argument("--engine", choices=["inprocess", "pipeline"], default="inprocess",
                            help="inprocess (default): the study steps in this process; pipeline: KFP's local "
                                 "runner like `tune` (about 17 s of start-up per trial)")
        parser.add_argument("--workdir", default=".agenthpo", help="KFP local outputs and logs for --engine pipeline")

    def take_action(self, args: argparse.Namespace) -> int:
        from agenthpo.bench import BenchmarkRun, load_suite
        from agenthpo.llm import local_server
        from agenthpo.proposers import uses_llm
        from agenthpo.tracking import MlflowBenchmarkStore

        suite = load_suite(args.suite).with_overrides(repeats=args.repeats, trials=args.trials,
                                                      proposers=args.proposers, pruners=args.pruners, out=args.out,
                                                      tracking_uri=args.tracking_uri, human_trials=args.human_trials)
        studies = sum(len(suite.arms) * suite.repeats_of(e) + (1 if suite.human_trials_of(e) else 0)
                      for e in suite.entries)
        print(f"agenthpo: benchmark {suite.name!r}: {len(suite.entries)} specs x {list(suite.labels)} x "
              f"{suite.repeats} repeats x {suite.trials} trials"
              f"{f', best human of {suite.human_trials} random trials' if suite.human_trials else ''} "
              f"({studies} studies)\n  tracking: {suite.tracking_uri}  results: {suite.out}", flush=True)
        started_llm = False

        def local_endpoint() -> tuple[str, str] | None:
            # One local server for all LLM studies (when neither the specs nor the environment name an endpoint),
            # started when the first of them is to train.
            nonlocal started_llm
            probe = suite.study_spec(suite.entries[0], next(label for label, p, _ in suite.arms if uses_llm(p)), 0)
            with_llm, started_llm = _with_local_llm(probe)
            return None if with_llm is probe else (with_llm.llm.base_url, with_llm.llm.model)

        def show(outcome, skipped: bool) -> None:
            entry = next(e for e in suite.entries if e.spec.name == outcome.spec)
            name = suite.human_name(entry) if outcome.repeat < 0 else suite.study_name(entry, outcome.proposer,
                                                                                       outcome.repeat)
            best = outcome.best_so_far(len(outcome.values))
            failed = sum(v is None for v in outcome.values) - outcome.pruned
            state = "done before" if skipped else f"{outcome.trained_now} trained now"
            pruned = f", {outcome.pruned} pruned" if outcome.pruned else ""
            print(f"  {name:<48} {len(outcome.values):>3} trials ({state}{f', {failed} failed' if failed else ''}"
                  f"{pruned})  "
                  f"best {outcome.objective.metric}={'-' if best is None else f'{best:.5g}'}  "
                  f"{outcome.wall_seconds:.1f}s", flush=True)

        any_llm = any(uses_llm(p) for p in suite.proposers)
        try:
            runner = BenchmarkRun(suite, MlflowBenchmarkStore(suite.tracking_uri), engine=args.engine,
                                  workdir=Path(args.workdir), llm_endpoint=local_endpoint if any_llm else None,
                                  on_study=show)
            results = runner.run()
        except local_server.LocalServerError as exc:
            print(f"agenthpo: no LLM endpoint and the local one cannot start: {exc}", file=sys.stderr)
            return EXIT_FAILED
        finally:
            if started_llm:
                local_server.stop()
        print()
        print(results.markdown())
        print(f"results: {Path(suite.out).resolve()} (results.md, results.json, trajectory_<spec>.png), also on the "
              f"benchmark run in MLflow experiment {suite.name!r}")
        return EXIT_OK
