"""The spec's `cluster:` options on the pipeline's tasks (kfp-kubernetes), and runs on a KFP server.

A spec without the section compiles exactly as before (no Kubernetes platform section); `submit` and
`schedule` give it the defaults (the LLM key from the agenthpo-llm Secret). KFP's local runner ignores
all of it: it never reads the platform section, resource and accelerator requests only warn, and the
step processes inherit this process's environment (the LLM key included).
"""

import json
import math
import tempfile
from collections.abc import Iterable
from pathlib import Path

from agenthpo.components.images import TRAIN_CUDA_IMAGE
from kfp import dsl, kubernetes
from kfp.dsl import pipeline_context

from agenthpo.cluster import ClusterOptions, kfp_cron
from agenthpo.spec import StudySpec

# Steps by component name (components/steps.py): what each needs besides the common environment.
OPEN_STEP = "open-study"  # the data (its contract and profile)
TRAIN_STEP = "train"  # the data, and the GPU, placement and resources
LLM_STEPS = ("creator", "analyze", "report")  # the LLM key
_EQUALS = 1  # the KFP v2beta1 filter's EQUALS operation
# A training pod may run this long past budget.trial_timeout: image pull, start-up, 10 minutes of tracking retries.
POD_DEADLINE_GRACE_SECONDS = 900


def cluster_options(spec: StudySpec) -> ClusterOptions:
    return spec.cluster or ClusterOptions()


def for_cluster(spec: StudySpec) -> StudySpec:
    """The spec as a cluster runs it: without a `cluster:` section, with the defaults."""
    return spec if spec.cluster is not None else spec.replace(cluster=ClusterOptions())


def configure_control_step(task: dsl.PipelineTask, spec: StudySpec, *, llm: bool = True,
                           data: bool = False) -> dsl.PipelineTask:
    """A control-image step: the common environment, the LLM key when it calls the LLM, the data volume."""
    options = cluster_options(spec)
    _common(task, options, data)
    if llm and spec.uses_llm and options.llm_secret is not None:
        secret = options.llm_secret
        # By reference only: the YAML names the Secret and its key; the value is read when the pod starts.
        kubernetes.use_secret_as_env(task, secret_name=secret.name, optional=secret.optional,
                                     secret_key_to_env={secret.key_for(spec.llm.api_key_env): spec.llm.api_key_env})
    return task


def configure_train_step(task: dsl.PipelineTask, spec: StudySpec) -> dsl.PipelineTask:
    """A training step: the common environment and data, and the GPU, node placement and resources."""
    options = cluster_options(spec)
    _common(task, options, data=True)
    if options.gpu is not None:
        # A component's image is fixed when it is declared; the task's copy is what the compiler writes,
        # so the one training body runs on the CUDA image wherever a GPU is asked for.
        task.container_spec.image = TRAIN_CUDA_IMAGE
        task.set_accelerator_type(options.gpu.accelerator).set_accelerator_limit(options.gpu.count)
    for key, value in options.node_selector.items():
        kubernetes.add_node_selector(task, label_key=key, label_value=value)
    for toleration in options.tolerations:
        kubernetes.add_toleration(task, key=toleration.key, operator=toleration.operator, value=toleration.value,
                                  effect=toleration.effect, toleration_seconds=toleration.toleration_seconds)
    resources = options.resources
    if resources.cpu_request:
        task.set_cpu_request(resources.cpu_request)
    if resources.cpu_limit:
        task.set_cpu_limit(resources.cpu_limit)
    if resources.memory_request:
        task.set_memory_request(resources.memory_request)
    if resources.memory_limit:
        task.set_memory_limit(resources.memory_limit)
    if spec.budget.trial_timeout:
        # The pod's activeDeadlineSeconds: a backstop for a hang in C code, past the in-process deadline
        # (which records "timed out") plus start-up and up to 10 minutes of tracking retries.
        kubernetes.set_timeout(task, math.ceil(spec.budget.trial_timeout) + POD_DEADLINE_GRACE_SECONDS)
    return task


def configure_task(task: dsl.PipelineTask, spec: StudySpec) -> dsl.PipelineTask:
    """Whatever the task's step needs, by its component's name; an unknown step gets the environment only."""
    name = task.component_spec.name
    if name == TRAIN_STEP:
        return configure_train_step(task, spec)
    return configure_control_step(task, spec, llm=name in LLM_STEPS, data=name == OPEN_STEP)


def configure_pipeline(spec: StudySpec, tasks: Iterable[dsl.PipelineTask] | None = None) -> None:
    """Configure every task of the pipeline being defined (call it inside the @dsl.pipeline function).

    Done once over all tasks rather than where each is created, so that however the trial loop is laid
    out (chained, parallel rounds) no step is missed. Nothing without a `cluster:` section.
    """
    if spec.cluster is None:
        return
    if tasks is None:
        tasks = pipeline_context.Pipeline.get_default_pipeline().tasks.values()
    for task in tasks:
        configure_task(task, spec)


def _common(task: dsl.PipelineTask, options: ClusterOptions, data: bool) -> None:
    for source in options.env:
        mapping = {source.key: source.env_name}
        if source.source == "secret":
            kubernetes.use_secret_as_env(task, secret_name=source.name, secret_key_to_env=mapping,
                                         optional=source.optional)
        else:
            kubernetes.use_config_map_as_env(task, config_map_name=source.name, config_map_key_to_env=mapping,
                                             optional=source.optional)
    if data and options.data_volume is not None:
        volume = options.data_volume
        kubernetes.mount_pvc(task, pvc_name=volume.claim, mount_path=volume.mount_path, sub_path=volume.sub_path)


def submit_run(client, spec: StudySpec, *, trials: int, experiment: str, run_name: str,
               namespace: str | None = None) -> str:
    """One run of `trials` iterations on the KFP server behind `client` (a kfp.Client); its run id."""
    from agenthpo.pipelines.study_pipeline import compile_pipeline

    spec = for_cluster(spec)
    with tempfile.TemporaryDirectory() as folder:
        package = compile_pipeline(spec, Path(folder) / "pipeline.yaml", trials)
        result = client.create_run_from_pipeline_package(
            str(package), arguments={}, run_name=run_name, experiment_name=experiment, namespace=namespace,
            service_account=cluster_options(spec).service_account)
    return result.run_id


def schedule_run(client, spec: StudySpec, *, cron: str, name: str, trials_per_run: int, experiment: str,
                 namespace: str | None = None) -> tuple[str, list[str]]:
    """A recurring run named `name` in `experiment`, each run `trials_per_run` iterations of the study.

    Returns (its id, the ids of the recurring runs of that name it replaced). The new one is created
    before the old ones are deleted, so a failed call leaves the old schedule in place.
    """
    from agenthpo.pipelines.study_pipeline import compile_pipeline

    cron, spec = kfp_cron(cron), for_cluster(spec)
    experiment_id = client.create_experiment(name=experiment, namespace=namespace).experiment_id
    previous = _recurring_runs_named(client, experiment_id, name)
    with tempfile.TemporaryDirectory() as folder:
        package = compile_pipeline(spec, Path(folder) / "pipeline.yaml", trials_per_run)
        created = client.create_recurring_run(
            experiment_id=experiment_id, job_name=name, cron_expression=cron, pipeline_package_path=str(package),
            description=f"AgentHPO study {spec.name}: up to {trials_per_run} trial(s) per run, "
                        f"{spec.budget.trials} in all",
            # One run at a time: two would race for the same study's next trial numbers. No catch-up:
            # a paused schedule resumes with one run, not a burst of missed ones.
            max_concurrency=1, no_catchup=True, enabled=True,
            service_account=cluster_options(spec).service_account)
    for recurring_run_id in previous:
        client.delete_recurring_run(recurring_run_id)
    return created.recurring_run_id, previous


def _recurring_runs_named(client, experiment_id: str, name: str) -> list[str]:
    query = json.dumps({"predicates": [{"operation": _EQUALS, "key": "display_name", "stringValue": name}]})
    found = client.list_recurring_runs(experiment_id=experiment_id, page_size=100, filter=query)
    # Checked again here: the name must match exactly, whatever the server's filter does.
    return [r.recurring_run_id for r in (found.recurring_runs or []) if r.display_name == name]
