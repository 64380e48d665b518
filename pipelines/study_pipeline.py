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

from agenthpo.spec import StudySpec


def _uncached(task: dsl.PipelineTask, name: str) -> dsl.PipelineTask:
    # Every step reads or writes MLflow: a cached result would replay a stale trial.
    task.set_caching_options(False)
    task.set_display_name(name)
    return task


def build_pipeline(spec: StudySpec, trials: int):
    """The pipeline function for `trials` iterations of the study in `spec`."""
    if trials < 1:
        raise ValueError(f"trials={trials!r} must be >= 1")
    spec_json = json.dumps(spec.to_json())

    @dsl.pipeline(name=f"agenthpo-{spec.name}".lower().replace("_", "-").replace(".", "-"),
                  description=f"AgentHPO study {spec.name}: {trials} trial(s) of {spec.task}"
                              + (f", {spec.parallel} at a time" if spec.parallel > 1 else ""))
    def study_pipeline(spec_json: str = spec_json) -> str:
        opened = _uncached(steps.open_study(spec_json=spec_json), "open-study")
        if spec.parallel > 1:
            fan_in = _rounds(spec_json, opened, math.ceil(trials / spec.parallel), spec.parallel)
            final = _uncached(steps.report(spec_json=spec_json, study_json=opened.output, previous=fan_in), "report")
        else:
            last = _sequential(spec_json, opened, trials)
            final = _uncached(steps.report(spec_json=spec_json, study_json=opened.output), "report").after(last)
        # Secrets, GPU, placement: the spec's `cluster:` options on every task just created.
        platform.configure_pipeline(spec)
        return final.outputs["Output"]

    return study_pipeline


def _sequential(spec_json: str, opened: dsl.PipelineTask, trials: int) -> dsl.PipelineTask:
    previous = opened
    for number in range(1, trials + 1):
        create = _uncached(steps.creator(spec_json=spec_json, study_json=opened.output),
                           f"trial-{number}-creator").after(previous)
        trained = _uncached(steps.train(spec_json=spec_json, config=create.outputs["config"]),
                            f"trial-{number}-train")
        previous = _uncached(steps.analyze(spec_json=spec_json, config=create.outputs["config"],
                                           trained_json=trained.output), f"trial-{number}-analyze")
    return previous


def _rounds(spec_json: str, opened: dsl.PipelineTask, rounds: int, slots: int):
    fan_in: object = []
    for number in range(1, rounds + 1):
        create = _uncached(steps.creator(spec_json=spec_json, study_json=opened.output, slots=slots,
                                         previous=fan_in), f"round-{number}-creator")
        with dsl.ParallelFor(items=list(range(slots)), parallelism=slots, name=f"round-{number}") as slot:
            trained = _uncached(steps.train(spec_json=spec_json, config=create.outputs["config"], slot=slot),
                                f"round-{number}-train")
            analyzed = _uncached(steps.analyze(spec_json=spec_json, config=create.outputs["config"],
                                               trained_json=trained.output, slot=slot), f"round-{number}-analyze")
        fan_in = dsl.Collected(analyzed.output)
    return fan_in


def compile_pipeline(spec: StudySpec, path: str | Path, trials: int | None = None) -> Path:
    """Write the KFP YAML for a cluster (all of the spec's trials unless told otherwise)."""
    path = Path(path)
    compiler.Compiler().compile(build_pipeline(spec, trials or spec.budget.trials), str(path))
    return path
