"""`agenthpo tune | bench | report | compile | submit | schedule`: the command line.

Exit status: 0 done, 1 the study stopped on failures, its data broke the data contract, or it could not
run; 2 a bad spec or argument.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

from agenthpo.spec import DEFAULT_TRACKING_URI, SpecError, StudySpec, absolute_sqlite_uri, load_spec
from agenthpo.tasks.contracts import DataContractError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agenthpo", description="Hyperparameter optimisation by LLM agents, "
                                     "as Kubeflow pipeline iterations tracked in MLflow.")
    commands = parser.add_subparsers(dest="command", required=True)

    tune = commands.add_parser("tune", help="run (or resume) a study on KFP's local runner")
    tune.add_argument("spec", help="study spec (YAML)")
    tune.add_argument("--trials", type=_positive_int, help="override budget.trials")
    tune.add_argument("--proposer", help="override the proposer (random, tpe, ...)")
    tune.add_argument("--tracking-uri", help=f"MLflow tracking URI (default: the spec's, else {DEFAULT_TRACKING_URI})")
    tune.add_argument("--workdir", default=".agenthpo", help="KFP local outputs and logs (default: .agenthpo)")

    bench = commands.add_parser("bench", help="run (or resume) a benchmark suite: specs x proposers x repeats")
    bench.add_argument("suite", help="suite file (YAML), e.g. benchmarks/tiny.yaml")
    bench.add_argument("--repeats", type=_positive_int, help="override the suite's repeats")
    bench.add_argument("--trials", type=_positive_int, help="override the suite's trials per study")
    bench.add_argument("--proposers", type=_name_list, help="override the proposers, e.g. tpe,random")
    bench.add_argument("--human-trials", type=int, help="override the best-human baseline's random trials (0: none)")
    bench.add_argument("--out", help="folder for results.md, results.json and the plots (default: the suite's)")
    bench.add_argument("--tracking-uri", help="MLflow tracking URI (default: the suite's)")
    bench.add_argument("--engine", choices=["inprocess", "pipeline"], default="inprocess",
                       help="inprocess (default): the study steps in this process; pipeline: KFP's local runner "
                            "like `tune` (about 17 s of start-up per trial)")
    bench.add_argument("--workdir", default=".agenthpo", help="KFP local outputs and logs for --engine pipeline")

    report = commands.add_parser("report", help="print a study's report from MLflow")
    report.add_argument("study", help="study name (the spec's `name`)")
    report.add_argument("--tracking-uri", default=DEFAULT_TRACKING_URI)
    report.add_argument("--experiment", help="look only in this MLflow experiment")

    llm = commands.add_parser("llm", help="the local LLM endpoint (llama.cpp's server on 127.0.0.1)")
    llm_commands = llm.add_subparsers(dest="llm_command", required=True)
    serve = llm_commands.add_parser("serve", help="start it (or show the one running)")
    serve.add_argument("--model", default="smollm2-135m", help="a packaged model name or a .gguf path")
    serve.add_argument("--port", type=_positive_int, help="default: a free port")
    llm_commands.add_parser("stop", help="stop it")
    llm_commands.add_parser("status", help="say whether it runs, and where")

    compile_ = commands.add_parser("compile", help="compile the study pipeline to KFP YAML for a cluster")
    compile_.add_argument("spec")
    compile_.add_argument("-o", "--output", required=True, help="where to write the pipeline YAML")
    compile_.add_argument("--trials", type=_positive_int, help="iterations to unroll (default: budget.trials)")
    compile_.add_argument("--tracking-uri", help="MLflow URI the pipeline's steps will use")

    submit = commands.add_parser("submit", help="run (or resume) the study as one run on a Kubeflow Pipelines server")
    submit.add_argument("spec")
    _kfp_arguments(submit)
    submit.add_argument("--trials", type=_positive_int, help="override budget.trials (the run unrolls that many)")
    submit.add_argument("--run-name", help="the run's name in the KFP UI (default: <study>-<UTC time>)")

    schedule = commands.add_parser("schedule", help="a recurring run on Kubeflow Pipelines that continues the study "
                                   "from its MLflow history each time")
    schedule.add_argument("spec")
    schedule.add_argument("--cron", required=True, type=_cron,
                          help="when runs start: standard 5-field cron (minute hour day-of-month month day-of-week, "
                               "UTC on most clusters), e.g. '0 3 * * *'; KFP's 6-field form (seconds first) too")
    _kfp_arguments(schedule)
    schedule.add_argument("--name", help="the recurring run's name (default: agenthpo-<study>); one of that name in "
                          "the experiment is replaced")
    schedule.add_argument("--trials", type=_positive_int, help="override budget.trials: the study's total, all runs "
                          "together")
    schedule.add_argument("--trials-per-run", type=_positive_int,
                          help="trials each run adds at most (default: the whole budget)")
    return parser


def _kfp_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="the KFP API endpoint, e.g. http://localhost:8080 (default: $KFP_HOST)")
    parser.add_argument("--namespace", help="the Kubernetes namespace of a multi-user Kubeflow (default: the "
                        "client's)")
    parser.add_argument("--experiment", help="the KFP experiment (default: the spec's MLflow experiment)")
    parser.add_argument("--tracking-uri", help="MLflow URI the pods use (default: the spec's); must be a server "
                        "they can reach, not a SQLite file")


def _cron(text: str) -> str:
    from agenthpo.cluster import kfp_cron

    try:
        return kfp_cron(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # MLflow draws a progress bar for every artifact it reads back (specs, profiles): noise in a terminal.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        if args.command == "tune":
            return tune(args)
        if args.command == "report":
            return report(args)
        if args.command == "bench":
            return bench(args)
        if args.command == "llm":
            return llm_command(args)
        if args.command in ("submit", "schedule"):
            return kfp_command(args)
        return compile_command(args)
    except SpecError as exc:
        from agenthpo.bench import SuiteError

        what = "suite" if isinstance(exc, SuiteError) else "spec"
        print(f"agenthpo: invalid {what}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DataContractError as exc:
        print(f"agenthpo: {exc}\nagenthpo: no trial was trained; the failed expectations are in the study run's "
              f"data_contract.json", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("\nagenthpo: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


def _load(args) -> StudySpec:
    spec = load_spec(args.spec)
    if getattr(args, "trials", None) or getattr(args, "proposer", None) or getattr(args, "tracking_uri", None):
        spec = spec.with_overrides(trials=args.trials, proposer=getattr(args, "proposer", None),
                                   tracking_uri=args.tracking_uri)
    return spec


def llm_command(args) -> int:
    from agenthpo.llm import local_server

    try:
        if args.llm_command == "serve":
            state = local_server.serve(args.model, args.port)
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


def _with_local_llm(spec: StudySpec) -> tuple[StudySpec, bool]:
    """An LLM study without a configured endpoint gets the local server; True if we started it."""
    import os

    if not spec.uses_llm or spec.llm.base_url or os.environ.get("OPENAI_BASE_URL"):
        return spec, False
    from agenthpo.llm import local_server

    already = local_server.status()
    state = already or local_server.serve()
    print(f"agenthpo: LLM endpoint: local llama.cpp server {state.base_url} (model {state.model})", flush=True)
    return spec.with_overrides(llm_base_url=state.base_url, llm_model=state.model), already is None


def compile_command(args) -> int:
    spec = _load(args)
    from agenthpo.pipelines.study_pipeline import compile_pipeline

    path = compile_pipeline(spec, args.output, args.trials)
    print(f"wrote {path} ({args.trials or spec.budget.trials} trial iterations of study {spec.name!r})")
    return EXIT_OK


def kfp_command(args) -> int:
    """`submit` and `schedule`: compile the study's pipeline and hand it to a Kubeflow Pipelines server."""
    host = args.host or os.environ.get("KFP_HOST")
    if not host:
        print(f"agenthpo {args.command}: no KFP server: pass --host URL (e.g. http://localhost:8080 after "
              f"`kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80`) or set KFP_HOST", file=sys.stderr)
        return EXIT_USAGE
    spec = _load(args)
    _check_for_cluster(spec, args.spec)
    import contextlib
    import io
    import warnings

    import kfp
    from kfp_server_api.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    from agenthpo.pipelines import platform

    ui = (host if "://" in host else f"http://{host}").rstrip("/")
    experiment = args.experiment or spec.experiment_name
    try:
        # The client's own notices (a version warning, "Experiment details: ...") would repeat what is printed here.
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore", FutureWarning)
            client = kfp.Client(host=host, namespace=args.namespace or "kubeflow")
            if args.command == "submit":
                trials = args.trials or spec.budget.trials
                run_name = args.run_name or f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
                run_id = platform.submit_run(client, spec, trials=trials, experiment=experiment, run_name=run_name,
                                             namespace=args.namespace)
            else:
                per_run = min(args.trials_per_run or spec.budget.trials, spec.budget.trials)
                name = args.name or f"agenthpo-{spec.name}"
                recurring_id, replaced = platform.schedule_run(client, spec, cron=args.cron, name=name,
                                                               trials_per_run=per_run, experiment=experiment,
                                                               namespace=args.namespace)
    except (ApiException, HTTPError, OSError, ValueError) as exc:
        detail = f"{exc.status} {exc.reason}: {str(exc.body)[:500]}" if isinstance(exc, ApiException) else str(exc)
        print(f"agenthpo {args.command}: KFP at {host}: {detail}", file=sys.stderr)
        return EXIT_FAILED
    if args.command == "submit":
        print(f"agenthpo: submitted study {spec.name!r} ({trials} trial iterations, budget {spec.budget.trials}) "
              f"to {host}, experiment {experiment!r}\n  run: {run_id}  {ui}/#/runs/details/{run_id}\n"
              f"  tracking: {spec.tracking_uri}")
        return EXIT_OK
    print(f"agenthpo: scheduled {name!r} ({args.cron}, KFP cron with seconds first) in experiment {experiment!r}: "
          f"each run continues study {spec.name!r} from its MLflow history with up to {per_run} trial(s), "
          f"{spec.budget.trials} in all\n  recurring run: {recurring_id}  {ui}/#/recurringrun/details/{recurring_id}")
    print(f"  replaced: {', '.join(replaced)}" if replaced else f"  no earlier recurring run named {name!r}")
    print("  once the budget is used, a run only reopens the study and rewrites its report; to go on, schedule "
          "again with a larger --trials (it replaces this one), or disable it in the KFP UI")
    return EXIT_OK


def _check_for_cluster(spec: StudySpec, source: str) -> None:
    """What would make every pod of a cluster run fail, said before anything is submitted."""
    from urllib.parse import urlparse

    from agenthpo.pipelines.platform import cluster_options

    def local(url: str) -> bool:
        return (urlparse(url).hostname or "") in ("localhost", "127.0.0.1", "::1", "0.0.0.0")

    uri = spec.tracking_uri
    if urlparse(uri).scheme in ("", "file", "sqlite") or local(uri):
        raise SpecError("tracking_uri", f"{uri!r} is on this machine, which the cluster's pods cannot reach: use "
                        f"an MLflow server they can, e.g. --tracking-uri http://mlflow.agenthpo.svc.cluster.local:5000",
                        source)
    options = cluster_options(spec)
    if spec.uses_llm:
        base_url = spec.llm.base_url
        if not base_url and not any(e.env_name == "OPENAI_BASE_URL" for e in options.env):
            raise SpecError("llm.base_url", "is not set, and pods do not start the local llama.cpp server: name the "
                            "served model's URL (or map OPENAI_BASE_URL in cluster.env)", source)
        if base_url and local(base_url):
            raise SpecError("llm.base_url", f"{base_url!r} is on this machine, which the cluster's pods cannot "
                            f"reach: use the in-cluster address of the served model", source)
    volume = options.data_volume
    if volume is not None and spec.data and "://" not in spec.data \
            and not spec.data.startswith(volume.mount_path.rstrip("/") + "/"):
        raise SpecError("data", f"{spec.data!r} is not under cluster.data_volume.mount_path "
                        f"{volume.mount_path!r}, where the pods see the data (write the spec's data path with "
                        f"${{AGENTHPO_DATA}} and set AGENTHPO_DATA={volume.mount_path} when submitting)", source)
    if volume is None and spec.data and "://" not in spec.data:
        print(f"agenthpo: note: data {spec.data!r} is a path on this machine; the pods find it only if their image "
              f"or a volume (cluster.data_volume) holds it there", file=sys.stderr)


class ProgressPrinter(threading.Thread):
    """Prints one line per trial as its result lands in MLflow (the pipeline runs in subprocesses)."""

    def __init__(self, spec: StudySpec, store, study_id: str, interval: float = 0.5):
        super().__init__(daemon=True)
        self.spec, self.store, self.study_id, self.interval = spec, store, study_id, interval
        # Captured now: while the pipeline runs, sys.stdout points at the KFP log file.
        self.out = sys.stdout
        self.shown: set[int] = {t.number for t in store.history(study_id) if t.state.value != "RUNNING"}
        self.best = None
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            self.poll()

    def stop(self) -> None:
        self.stopping.set()
        self.join()
        self.poll()

    def poll(self) -> None:
        from agenthpo.trial import TrialState

        try:
            history = self.store.history(self.study_id)
        except Exception:  # a busy SQLite file: try again at the next tick
            return
        objective = self.spec.objective
        for trial in history:
            if trial.number in self.shown:
                continue
            if trial.state == TrialState.FINISHED and not trial.facts:
                continue  # wait for the analysis
            if trial.state == TrialState.RUNNING:
                continue
            self.shown.add(trial.number)
            head = f"  trial {trial.number:>3}/{self.spec.budget.trials:<3} {trial.source:<8}"
            if trial.state == TrialState.FINISHED:
                if self.best is None or objective.better(trial.value, self.best):
                    self.best = trial.value
                print(f"{head} {objective.metric}={trial.value:<10.5g} best={self.best:<10.5g} "
                      f"{trial.train_seconds or 0:6.1f}s  {trial.facts.get('verdict', '')}", file=self.out, flush=True)
            else:
                print(f"{head} {trial.state.value:<8} {trial.error[:100]}", file=self.out, flush=True)


def tune(args) -> int:
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


def _tune(args, spec: StudySpec) -> int:
    from agenthpo import study
    from agenthpo.pipelines.local import PipelineFailed, run_to_budget
    from agenthpo.tracking import MlflowStudyStore

    store = MlflowStudyStore(spec.tracking_uri)
    started = time.perf_counter()
    opened = study.open_study(spec, store)
    study_id = opened["study_id"]
    resumed = f", resuming after {opened['trials_used']} trials" if opened["trials_used"] else ""
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

    result = study.report_study(spec, store, study_id)
    wall = time.perf_counter() - started
    history = store.history(study_id)
    trained = [t for t in history if t.number not in trained_before]
    train_seconds = sum(t.train_seconds or 0.0 for t in trained)
    def llm_seconds(trials) -> float:
        return sum(v for t in trials for k, v in t.metrics.items() if k.endswith("_llm_seconds"))

    # LLM time of this session: its trials' Creator and Executor calls, and the final analysis.
    final_llm = result.get("summary", {}).get("llm_seconds_total", 0.0) - llm_seconds(history)
    llm = llm_seconds(trained) + max(final_llm, 0.0)
    timing = {"session_wall_seconds": wall, "session_train_seconds": train_seconds, "session_llm_seconds": llm,
              "session_orchestration_seconds": wall - train_seconds - llm, "session_trials": float(len(trained))}
    store.log_metrics(study_id, timing, step=int(time.time()))
    _print_summary(spec, result, timing, kind, reason)
    return EXIT_FAILED if kind == "failures" else EXIT_OK


def _print_summary(spec: StudySpec, result: dict, timing: dict, kind: str, reason: str) -> None:
    print()
    best = result["best"]
    if best:
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in best["params"].items())
        print(f"best: trial {best['number']}  {spec.objective.metric}={best['value']:.6g}\n  {params}")
    print(f"{'stopped' if kind == 'failures' else 'done'}: {reason}")
    llm = f"{timing['session_llm_seconds']:.1f}s LLM + " if timing["session_llm_seconds"] else ""
    print(f"time: {timing['session_wall_seconds']:.1f}s wall for {int(timing['session_trials'])} trials = "
          f"{timing['session_train_seconds']:.1f}s training + {llm}{timing['session_orchestration_seconds']:.1f}s "
          f"orchestration (pipeline steps, MLflow, analysis)")
    summary = result.get("summary", {})
    if "llm_tokens_total" in summary:
        print(f"LLM: {summary['llm_tokens_total']:.0f} tokens ({summary['llm_prompt_tokens_total']:.0f} prompt + "
              f"{summary['llm_completion_tokens_total']:.0f} completion) in {summary['llm_calls_total']:.0f} calls, "
              f"{summary['llm_seconds_per_trial']:.1f}s per trial, ${summary['llm_cost_usd']:.4f}; Creator answers "
              f"repaired {summary['creator_repaired_share']:.0%}, replaced by the fallback "
              f"{summary['creator_fallback_share']:.0%}")
    print(f"report: agenthpo report {spec.name} --tracking-uri {spec.tracking_uri}")
    print(f"MLflow UI: mlflow ui --backend-store-uri {spec.tracking_uri} --port 5000  (then open "
          f"http://127.0.0.1:5000)" if spec.tracking_uri.startswith("sqlite") else f"MLflow UI: {spec.tracking_uri}")
    if kind == "failures":
        print(f"agenthpo: study stopped: {reason}", file=sys.stderr)


def bench(args) -> int:
    from agenthpo.bench import BenchmarkRun, load_suite
    from agenthpo.llm import local_server
    from agenthpo.spec import LLM_PROPOSERS
    from agenthpo.tracking import MlflowBenchmarkStore

    suite = load_suite(args.suite).with_overrides(repeats=args.repeats, trials=args.trials,
                                                  proposers=args.proposers, out=args.out,
                                                  tracking_uri=args.tracking_uri, human_trials=args.human_trials)
    studies = sum(len(suite.proposers) * suite.repeats_of(e) + (1 if suite.human_trials_of(e) else 0)
                  for e in suite.entries)
    print(f"agenthpo: benchmark {suite.name!r}: {len(suite.entries)} specs x {list(suite.proposers)} x "
          f"{suite.repeats} repeats x {suite.trials} trials"
          f"{f', best human of {suite.human_trials} random trials' if suite.human_trials else ''} "
          f"({studies} studies)\n  tracking: {suite.tracking_uri}  results: {suite.out}", flush=True)
    started_llm = False

    def local_endpoint() -> tuple[str, str] | None:
        # One local server for all LLM studies (when neither the specs nor the environment name an endpoint),
        # started when the first of them is to train.
        nonlocal started_llm
        probe = suite.study_spec(suite.entries[0], next(p for p in suite.proposers if p in LLM_PROPOSERS), 0)
        with_llm, started_llm = _with_local_llm(probe)
        return None if with_llm is probe else (with_llm.llm.base_url, with_llm.llm.model)

    def show(outcome, skipped: bool) -> None:
        entry = next(e for e in suite.entries if e.spec.name == outcome.spec)
        name = suite.human_name(entry) if outcome.repeat < 0 else suite.study_name(entry, outcome.proposer,
                                                                                   outcome.repeat)
        best = outcome.best_so_far(len(outcome.values))
        failed = sum(v is None for v in outcome.values)
        state = "done before" if skipped else f"{outcome.trained_now} trained now"
        print(f"  {name:<48} {len(outcome.values):>3} trials ({state}{f', {failed} failed' if failed else ''})  "
              f"best {outcome.objective.metric}={'-' if best is None else f'{best:.5g}'}  "
              f"{outcome.wall_seconds:.1f}s", flush=True)

    uses_llm = any(p in LLM_PROPOSERS for p in suite.proposers)
    try:
        runner = BenchmarkRun(suite, MlflowBenchmarkStore(suite.tracking_uri), engine=args.engine,
                              workdir=Path(args.workdir), llm_endpoint=local_endpoint if uses_llm else None,
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


def report(args) -> int:
    from agenthpo.report import build_report
    from agenthpo.tracking import MlflowStudyStore

    store = MlflowStudyStore(absolute_sqlite_uri(args.tracking_uri))
    study_id = store.find_study(args.study, args.experiment)
    if study_id is None:
        print(f"agenthpo: no study named {args.study!r} in {args.tracking_uri}", file=sys.stderr)
        return EXIT_FAILED
    spec = store.load_spec(study_id)
    from agenthpo import study

    history = store.history(study_id)
    kind, reason = study.stop_reason(spec, history)
    print(build_report(spec.name, spec.space, history, spec.objective, reason if kind == "failures" else ""))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
