"""The KFP components of a study: a few lines each, JSON in, a library call, JSON out.

Bodies import inside the function because KFP ships each function's source to its own process or
pod; the images have agenthpo installed, hence `install_kfp_package=False`.
"""


from agenthpo.components.images import CONTROL_IMAGE, TRAIN_IMAGE
from kfp import dsl  # no `from __future__ import annotations`: KFP reads the real types


@dsl.component(base_image=CONTROL_IMAGE, install_kfp_package=False)
def open_study(spec_json: str) -> str:
    """Create or resume the study's parent run in MLflow."""
    from agenthpo.components.runtime import dump, load

    from agenthpo import study

    spec, store = load(spec_json)
    return dump(study.open_study(spec, store))


@dsl.component(base_image=CONTROL_IMAGE, install_kfp_package=False)
def creator(spec_json: str, study_json: str, config: dsl.Output[dsl.Artifact], slots: int = 0,
            previous: list = [],  # noqa: B006 (KFP reads the default; it is never mutated)
            job_id: str = "", task_name: str = "") -> str:
    """The Creator: read past trials from MLflow, propose the next configuration as an artifact
    (with `slots`, a round of that many for the parallel training steps). `previous` is only the
    fan-in of the last round's analyses: it makes this step wait for them. `job_id` and `task_name`
    (KFP's placeholders) name the step: a retry returns the trials it already opened."""
    import json

    from agenthpo.components.runtime import dump, load

    from agenthpo import study
    from agenthpo.messages import StudyOpened
    from agenthpo.slots import current_driver

    spec, store = load(spec_json)
    opened = StudyOpened.from_json(json.loads(study_json))
    result = dump(study.create_round(spec, store, opened.study_id, slots or 1,
                                     key=study.round_key(job_id, task_name), driver=current_driver(job_id)))
    with open(config.path, "w") as f:
        f.write(result)
    return result


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def train(spec_json: str, config: dsl.Input[dsl.Artifact], slot: int = -1) -> str:
    """The Executor's training: run the task with the configuration (the round's `slot`-th), log curves
    and metrics. A retry never trains a trial that has a result (`study.train_step`)."""
    from agenthpo.components.runtime import dump, load, read_config

    from agenthpo import study

    spec, store = load(spec_json)
    return dump(study.train_step(spec, store, read_config(config.path, slot)))


@dsl.component(base_image=CONTROL_IMAGE, install_kfp_package=False)
def analyze(spec_json: str, config: dsl.Input[dsl.Artifact], trained_json: str, slot: int = -1) -> str:
    """The Executor's analysis of the training trajectory, written back to the trial run."""
    import json

    from agenthpo.components.runtime import dump, load, read_config

    from agenthpo import study
    from agenthpo.messages import Trained

    spec, store = load(spec_json)
    trained = Trained.from_json(json.loads(trained_json))
    return dump(study.analyze_trial(spec, store, read_config(config.path, slot), trained))


@dsl.component(base_image=CONTROL_IMAGE, install_kfp_package=False)
def report(spec_json: str, study_json: str, markdown: dsl.Output[dsl.Markdown],
           previous: list = []) -> str:  # noqa: B006 (KFP reads the default; it is never mutated)
    """The final report on the study run; also a Markdown artifact the Kubeflow UI renders. `previous`
    is the fan-in of the last parallel round: it makes this step wait for it."""
    import json

    from agenthpo.components.runtime import dump, load

    from agenthpo import study
    from agenthpo.messages import StudyOpened

    spec, store = load(spec_json)
    result = study.report_study(spec, store, StudyOpened.from_json(json.loads(study_json)).study_id)
    with open(markdown.path, "w") as f:
        f.write(result.markdown)
    return dump(result)
