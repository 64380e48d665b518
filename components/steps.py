"""The KFP components of a study: typed parameters and artifacts in, the body's JSON message out.

Each hands its parameters to its body in `agenthpo.components.bodies` through `handoff.run_body`: in the
step's own process on a cluster, in the local runner's warm worker with `agenthpo tune`. Imports are
inside the functions because KFP ships each function's source to its own process or pod; the images
have agenthpo installed, hence `install_kfp_package=False`.
"""


from agenthpo.components.images import CONTROL_IMAGE, TRAIN_IMAGE
from kfp import dsl  # no `from __future__ import annotations`: KFP reads the real types


@dsl.component(base_image=CONTROL_IMAGE, install_kfp_package=False)
def open_study(spec_json: str) -> str:
    """Create or resume the study's parent run in MLflow."""
    from agenthpo.components.handoff import run_body

    return run_body("open_study", spec_json=spec_json)


@dsl.component(base_image=CONTROL_IMAGE, install_kfp_package=False)
def creator(spec_json: str, study_json: str, config: dsl.Output[dsl.Artifact], slots: int = 0,
            previous: list = [],  # noqa: B006 (KFP reads the default; it is never mutated)
            job_id: str = "", task_name: str = "") -> str:
    """The Creator: read past trials from MLflow, propose the next configuration as an artifact
    (with `slots`, a round of that many for the parallel training steps). `previous` is only the
    fan-in of the last round's analyses: it makes this step wait for them. `job_id` and `task_name`
    (KFP's placeholders) name the step: a retry returns the trials it already opened."""
    from agenthpo.components.handoff import run_body

    return run_body("creator", spec_json=spec_json, study_json=study_json, config_path=config.path, slots=slots,
                    job_id=job_id, task_name=task_name)


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def train(spec_json: str, config: dsl.Input[dsl.Artifact], metrics: dsl.Output[dsl.Metrics], slot: int = -1) -> str:
    """The Executor's training: run the task with the configuration (the round's `slot`-th), log curves
    and metrics. A retry never trains a trial that has a result (`study.train_step`). `metrics`: the
    objective, training seconds and LLM tokens, for the Kubeflow UI's run comparison."""
    import json
    import tempfile

    from agenthpo.components.handoff import run_body

    with tempfile.NamedTemporaryFile("r", suffix=".json") as values:
        result = run_body("train", spec_json=spec_json, config_path=config.path, slot=slot, metrics_path=values.name)
        for name, value in json.loads(values.read() or "{}").items():
            metrics.log_metric(name, value)
    return result


@dsl.component(base_image=CONTROL_IMAGE, install_kfp_package=False)
def analyze(spec_json: str, config: dsl.Input[dsl.Artifact], trained_json: str, slot: int = -1) -> str:
    """The Executor's analysis of the training trajectory, written back to the trial run."""
    from agenthpo.components.handoff import run_body

    return run_body("analyze", spec_json=spec_json, config_path=config.path, trained_json=trained_json, slot=slot)


@dsl.component(base_image=CONTROL_IMAGE, install_kfp_package=False)
def report(spec_json: str, study_json: str, markdown: dsl.Output[dsl.Markdown], html: dsl.Output[dsl.HTML],
           previous: list = []) -> str:  # noqa: B006 (KFP reads the default; it is never mutated)
    """The final report on the study run; also Markdown and HTML artifacts the Kubeflow UI renders (the
    HTML with the history and influence charts). `previous` is the fan-in of the last parallel round: it
    makes this step wait for it."""
    from agenthpo.components.handoff import run_body

    return run_body("report", spec_json=spec_json, study_json=study_json, markdown_path=markdown.path,
                    html_path=html.path)
