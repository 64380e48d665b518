"""`agenthpo submit` and `agenthpo schedule`: the study's pipeline handed to a Kubeflow Pipelines server."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import NamedTuple

from agenthpo.cli.base import EXIT_FAILED, EXIT_OK, EXIT_USAGE, _BaseCommand, _cron, _load, _positive_int
from agenthpo.cli.compile import check_unrolled
from agenthpo.cli.preflight import _check_for_cluster
from agenthpo.spec import StudySpec


def _kfp_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="the KFP API endpoint, e.g. http://localhost:8080 (default: $KFP_HOST)")
    parser.add_argument("--namespace", help="the Kubernetes namespace of a multi-user Kubeflow (default: the "
                        "client's)")
    parser.add_argument("--experiment", help="the KFP experiment (default: the spec's MLflow experiment)")
    parser.add_argument("--tracking-uri", help="MLflow URI the pods use (default: the spec's); must be a server "
                        "they can reach, not a SQLite file")


class _Target(NamedTuple):
    host: str  # as given
    ui: str  # the UI's base URL
    experiment: str


class _KfpCommand(_BaseCommand):
    """Compile the study's pipeline and hand it to a KFP server; `send` makes the one request."""

    def take_action(self, args: argparse.Namespace) -> int:
        host = args.host or os.environ.get("KFP_HOST")
        if not host:
            print(f"agenthpo {args.command}: no KFP server: pass --host URL (e.g. http://localhost:8080 after "
                  f"`kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80`) or set KFP_HOST", file=sys.stderr)
            return EXIT_USAGE
        spec = _load(args)
        check_unrolled(*self.unrolled(args, spec), args.spec)
        _check_for_cluster(spec, args.spec)
        import contextlib
        import io
        import warnings

        import kfp
        from kfp_server_api.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        ui = (host if "://" in host else f"http://{host}").rstrip("/")
        experiment = args.experiment or spec.experiment_name
        try:
            # The client's own notices (a version warning, "Experiment details: ...") would repeat what is printed
            # here.
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore", FutureWarning)
                client = kfp.Client(host=host, namespace=args.namespace or "kubeflow")
                done = self.send(client, args, spec, _Target(host, ui, experiment))
        except (ApiException, HTTPError, OSError, ValueError) as exc:
            detail = f"{exc.status} {exc.reason}: {str(exc.body)[:500]}" if isinstance(exc, ApiException) else str(exc)
            print(f"agenthpo {args.command}: KFP at {host}: {detail}", file=sys.stderr)
            return EXIT_FAILED
        print(done)
        return EXIT_OK

    def send(self, client, args: argparse.Namespace, spec: StudySpec, target: _Target) -> str:
        """Make the request; what to print once it succeeded."""
        raise NotImplementedError

    def unrolled(self, args: argparse.Namespace, spec: StudySpec) -> tuple[int, str]:
        """How many trials one run's pipeline unrolls, and the field that says so (for `check_unrolled`)."""
        return (args.trials, "--trials") if args.trials else (spec.budget.trials, "budget.trials")


class _Submit(_KfpCommand):
    help = "run (or resume) the study as one run on a Kubeflow Pipelines server"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("spec")
        _kfp_arguments(parser)
        parser.add_argument("--trials", type=_positive_int, help="override budget.trials (the run unrolls that many)")
        parser.add_argument("--run-name", help="the run's name in the KFP UI (default: <study>-<UTC time>)")

    def send(self, client, args: argparse.Namespace, spec: StudySpec, target: _Target) -> str:
        from agenthpo.pipelines import platform

        trials = args.trials or spec.budget.trials
        run_name = args.run_name or f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
        run_id = platform.submit_run(client, spec, trials=trials, experiment=target.experiment, run_name=run_name,
                                     namespace=args.namespace)
        return (f"agenthpo: submitted study {spec.name!r} ({trials} trial iterations, budget {spec.budget.trials}) "
                f"to {target.host}, experiment {target.experiment!r}\n  run: {run_id}  "
                f"{target.ui}/#/runs/details/{run_id}\n  tracking: {spec.tracking_uri}")


class _Schedule(_KfpCommand):
    help = "a recurring run on Kubeflow Pipelines that continues the study from its MLflow history each time"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("spec")
        parser.add_argument("--cron", required=True, type=_cron,
                            help="when runs start: standard 5-field cron (minute hour day-of-month month "
                                 "day-of-week, UTC on most clusters), e.g. '0 3 * * *'; KFP's 6-field form "
                                 "(seconds first) too")
        _kfp_arguments(parser)
        parser.add_argument("--name", help="the recurring run's name (default: agenthpo-<study>); one of that name "
                            "in the experiment is replaced")
        parser.add_argument("--trials", type=_positive_int, help="override budget.trials: the study's total, all "
                            "runs together")
        parser.add_argument("--trials-per-run", type=_positive_int,
                            help="trials each run adds at most (default: the whole budget; at most 500)")

    def unrolled(self, args: argparse.Namespace, spec: StudySpec) -> tuple[int, str]:
        if args.trials_per_run and args.trials_per_run < spec.budget.trials:
            return args.trials_per_run, "--trials-per-run"
        return super().unrolled(args, spec)

    def send(self, client, args: argparse.Namespace, spec: StudySpec, target: _Target) -> str:
        from agenthpo.pipelines import platform

        per_run = min(args.trials_per_run or spec.budget.trials, spec.budget.trials)
        name = args.name or f"agenthpo-{spec.name}"
        recurring_id, replaced = platform.schedule_run(client, spec, cron=args.cron, name=name,
                                                       trials_per_run=per_run, experiment=target.experiment,
                                                       namespace=args.namespace)
        return "\n".join([
            f"agenthpo: scheduled {name!r} ({args.cron}, KFP cron with seconds first) in experiment "
            f"{target.experiment!r}: each run continues study {spec.name!r} from its MLflow history with up to "
            f"{per_run} trial(s), {spec.budget.trials} per data generation\n  recurring run: {recurring_id}  "
            f"{target.ui}/#/recurringrun/details/{recurring_id}",
            f"  replaced: {', '.join(replaced)}" if replaced else f"  no earlier recurring run named {name!r}",
            "  when the data changes, a run begins a new generation of the study (its own budget and best; the "
            f"previous best {spec.warm_start.top_k} retrained first); while it does not and the budget is used, a run "
            "only reopens the study and rewrites its report",
        ])
