"""Run a study pipeline on KFP's local runner (one subprocess per step, no cluster)."""

import contextlib
import tempfile
from collections.abc import Callable
from pathlib import Path

from agenthpo.pipelines.study_pipeline import build_pipeline

from agenthpo.spec import StudySpec


class PipelineFailed(RuntimeError):
    """A step's process failed (not a training error: those are recorded trials)."""


def run_local(spec: StudySpec, trials: int, workdir: Path, log_path: Path) -> None:
    """Run `trials` iterations; KFP's own output goes to log_path (it is verbose)."""
    from kfp import local

    workdir.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(workdir / "outputs"),
               workspace_root=tempfile.mkdtemp(prefix="workspace-", dir=workdir), raise_on_error=True)
    pipeline = build_pipeline(spec, trials)
    with open(log_path, "a") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        try:
            pipeline()
        except RuntimeError as exc:
            raise PipelineFailed(f"{exc} (KFP log: {log_path})") from None


def run_to_budget(spec: StudySpec, store, study_id: str, workdir: Path, log_path: Path,
                  on_failure: Callable[[PipelineFailed, list[int]], None] | None = None) -> None:
    """Run pipeline iterations until the study's budget is used or it stops on failures.

    A run whose step process died (segfault, OOM kill) has its RUNNING trials marked FAILED and the
    remaining budget goes to a new pipeline run; two failed runs in a row that start no trial raise.
    """
    from agenthpo import study

    attempts_without_progress = 0
    while True:
        history = store.history(study_id)
        if study.stop_reason(spec, history)[0]:
            return
        try:
            run_local(spec, spec.budget.trials - study.counted(history)[0], workdir, log_path)
        except PipelineFailed as exc:
            crashed = store.fail_running(study_id, f"the step's process failed: {exc}")
            if on_failure is not None:
                on_failure(exc, crashed)
            progressed = len(store.history(study_id)) > len(history)
            attempts_without_progress = 0 if progressed else attempts_without_progress + 1
            if attempts_without_progress >= 2:
                raise
