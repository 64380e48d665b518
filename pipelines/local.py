"""Run a study pipeline on KFP's local runner (one subprocess per step, no cluster)."""

import contextlib
import tempfile
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
