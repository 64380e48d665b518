"""One study as a KFP pipeline: open, then per trial creator -> train -> analyze, then report.

Trials are unrolled at compile time and chained, so the Kubeflow UI shows each trial's three steps
and the Creator of trial k+1 starts only after trial k's analysis is in MLflow. A Creator that finds
the budget used (e.g. a resumed or scheduled study) emits a `stop` config and the remaining steps
of the pipeline pass through without training.

With `parallel: k` the trials go in rounds: the Creator proposes k distinct configurations at once,
a `ParallelFor` trains and analyses them side by side (k pods on a cluster, k processes locally),
and the next round's Creator waits for all k analyses (fanned in with `dsl.Collected`).
"""


import json
import math
from pathlib import Path

from agenthpo.components import steps
from agenthpo.pipelines import platform
from kfp import compiler, dsl
from kfp.dsl import pipeline_context

from agenthpo.limits import MAX_COMPILED_TRIALS
from agenthpo.slots import STEP_RETRIES
from agenthpo.spec import StudySpec

# On a cluster a step that fails (its pod evicted or OOM-killed, the node lost, MLflow unreachable) is
# run again after 30 s, then 60 s. Every step is idempotent: a retried Creator returns the trials it
# opened (its key: the KFP run id and task name), a retried training step never trains a trial twice,
# and records it FAILED when its process died STEP_RETRIES times (study.train_step). KFP's local runner
# would retry too; `agenthpo tune` builds its pipelines without retries: its driver records a dead step.
RETRY_BACKOFF, RETRY_FACTOR, RETRY_MAX = "30s", 2.0, "600s"


def _uncached(task: dsl.PipelineTask, name: str) -> dsl.PipelineTask:
    # Every step reads or writes MLflow: a cached result would replay a stale trial.
    task.set_caching_options(False)
    task.set_display_name(name)
    return task


def _retry_every_step() -> None:
    """set_retry on every task of the pipeline being defined (inside the @dsl.pipeline function)."""
    for task in pipeline_context.Pipeline.get_default_pipeline().tasks.values():
        task.set_retry(num_retries=STEP_RETRIES, backoff_duration=RETRY_BACKOFF, backoff_factor=RETRY_FACTOR,
                       backoff_max_duration=RETRY_MAX)


def _creator(spec_json: str, opened: dsl.PipelineTask, name: str, **kwargs) -> dsl.PipelineTask:
    return _uncached(steps.creator(spec_json=spec_json, study_json=opened.output,
                                   job_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
                                   task_name=dsl.PIPELINE_TASK_NAME_PLACEHOLDER, **kwargs), name)


def build_pipeline(spec: StudySpec, trials: int, retry: bool = False, report: bool = True):
    """The pipeline function for `trials` iterations of the study in `spec` (with `retry`, every step
    retried with backoff: for a cluster). Without `report` (`agenthpo tune`, whose driver writes the
    report once after its last pipeline run) the pipeline ends with the last analysis and returns the
    study it ran."""
    if not 1 <= trials <= MAX_COMPILED_TRIALS:
        # One step triple per trial is unrolled: a larger study runs as several pipeline runs
        # (`tune` chunks them; `schedule --trials-per-run`).
        raise ValueError(f"trials={trials!r} must be in [1, {MAX_COMPILED_TRIALS}]")
    spec_json = json.dumps(spec.to_json())

    @dsl.pipeline(name=f"agenthpo-{spec.name}".lower().replace("_", "-").replace(".", "-"),
                  description=f"AgentHPO study {spec.name}: {trials} trial(s) of {spec.task}"
                              + (f", {spec.parallel} at a time" if spec.parallel > 1 else ""))
    def study_pipeline(spec_json: str = spec_json) -> str:
        opened = _uncached(steps.open_study(spec_json=spec_json), "open-study")
        output = opened.output
        if spec.parallel > 1:
            fan_in = _rounds(spec_json, opened, math.ceil(trials / spec.parallel), spec.parallel)
            if report:
                final = _uncached(steps.report(spec_json=spec_json, study_json=opened.output, previous=fan_in),
                                  "report")
                output = final.outputs["Output"]
        else:
            last = _sequential(spec_json, opened, trials)
            if report:
                final = _uncached(steps.report(spec_json=spec_json, study_json=opened.output), "report").after(last)
                output = final.outputs["Output"]
        # Secrets, GPU, placement: the spec's `cluster:` options on every task just created.
        platform.configure_pipeline(spec)
        if retry:
            _retry_every_step()
        return output

    return study_pipeline


def _sequential(spec_json: str, opened: dsl.PipelineTask, trials: int) -> dsl.PipelineTask:
    previous = opened
    for number in range(1, trials + 1):
        create = _creator(spec_json, opened, f"trial-{number}-creator").after(previous)
        trained = _uncached(steps.train(spec_json=spec_json, config=create.outputs["config"]),
                            f"trial-{number}-train")
        previous = _uncached(steps.analyze(spec_json=spec_json, config=create.outputs["config"],
                                           trained_json=trained.outputs["Output"]), f"trial-{number}-analyze")
    return previous


def _rounds(spec_json: str, opened: dsl.PipelineTask, rounds: int, slots: int):
    fan_in: object = []
    for number in range(1, rounds + 1):
        create = _creator(spec_json, opened, f"round-{number}-creator", slots=slots, previous=fan_in)
        with dsl.ParallelFor(items=list(range(slots)), parallelism=slots, name=f"round-{number}") as slot:
            trained = _uncached(steps.train(spec_json=spec_json, config=create.outputs["config"], slot=slot),
                                f"round-{number}-train")
            analyzed = _uncached(steps.analyze(spec_json=spec_json, config=create.outputs["config"],
                                               trained_json=trained.outputs["Output"], slot=slot),
                                f"round-{number}-analyze")
        fan_in = dsl.Collected(analyzed.output)
    return fan_in


def compile_pipeline(spec: StudySpec, path: str | Path, trials: int | None = None) -> Path:
    """Write the KFP YAML for a cluster (all of the spec's trials unless told otherwise)."""
    path = Path(path)
    compiler.Compiler().compile(build_pipeline(spec, trials or spec.budget.trials, retry=True), str(path))
    return path
