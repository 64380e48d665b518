"""What each KFP component of a study does (`agenthpo.components.steps` hands its parameters here).

Plain functions over JSON strings and artifact paths, so they run the same in a step's own process (a pod
on a cluster), in a warm worker's forked child on the local runner (`agenthpo.pipelines.warm`), and in
tests. Each loads the spec and the store, makes one library call and returns the step message as JSON.
"""

from __future__ import annotations

import json

from agenthpo.components.runtime import dump, load, read_config

from agenthpo import names, study
from agenthpo.messages import StudyOpened, Trained
from agenthpo.slots import current_driver


def open_study(spec_json: str) -> str:
    spec, store = load(spec_json)
    return dump(study.open_study(spec, store))


def creator(spec_json: str, study_json: str, config_path: str, slots: int = 0, job_id: str = "",
            task_name: str = "") -> str:
    spec, store = load(spec_json)
    opened = StudyOpened.from_json(json.loads(study_json))
    result = dump(study.create_round(spec, store, opened.study_id, slots or 1,
                                     key=study.round_key(job_id, task_name), driver=current_driver(job_id)))
    with open(config_path, "w") as f:
        f.write(result)
    return result


def train(spec_json: str, config_path: str, slot: int = -1, metrics_path: str = "") -> str:
    """`metrics_path`: where to write the trial's KFP metrics (the step logs them on its Metrics output)."""
    spec, store = load(spec_json)
    config = read_config(config_path, slot)
    trained = study.train_step(spec, store, config)
    if metrics_path:
        with open(metrics_path, "w") as f:
            json.dump(kfp_metrics(spec, config, trained), f)
    return dump(trained)


def kfp_metrics(spec, config, trained: Trained) -> dict[str, float]:
    """What the Kubeflow UI compares runs by: the objective, training seconds and the Creator's tokens (the
    proposal carries them: nothing is read back from MLflow). The KFP UI has no chart sections, so plain names."""
    if trained.trial_id == "":
        return {}
    metrics = {"trial": float(trained.number), "train_seconds": float(trained.train_seconds or 0.0)}
    if trained.value is not None:
        metrics[spec.objective.metric] = float(trained.value)
    usage = config.proposal.metrics if config.proposal is not None else {}
    tokens = [usage.get(names.usage_metric("creator", kind)) for kind in (names.PROMPT_TOKENS, names.COMPLETION_TOKENS)]
    if any(t is not None for t in tokens):
        metrics["llm_tokens"] = float(sum(t or 0.0 for t in tokens))
    return metrics


def analyze(spec_json: str, config_path: str, trained_json: str, slot: int = -1) -> str:
    spec, store = load(spec_json)
    trained = Trained.from_json(json.loads(trained_json))
    return dump(study.analyze_trial(spec, store, read_config(config_path, slot), trained))


def report(spec_json: str, study_json: str, markdown_path: str, html_path: str = "") -> str:
    spec, store = load(spec_json)
    study_id = StudyOpened.from_json(json.loads(study_json)).study_id
    result = study.report_study(spec, store, study_id, html_path=html_path)
    with open(markdown_path, "w") as f:
        f.write(result.markdown)
    return dump(result)
