"""What each KFP component of a study does (`agenthpo.components.steps` hands its parameters here).

Plain functions over JSON strings and artifact paths, so they run the same in a step's own process (a pod
on a cluster), in a warm worker's forked child on the local runner (`agenthpo.pipelines.warm`), and in
tests. Each loads the spec and the store, makes one library call and returns the step message as JSON.
"""

from __future__ import annotations

import json

from agenthpo.components.runtime import dump, load, read_config

from agenthpo import study
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


def train(spec_json: str, config_path: str, slot: int = -1) -> str:
    spec, store = load(spec_json)
    return dump(study.train_step(spec, store, read_config(config_path, slot)))


def analyze(spec_json: str, config_path: str, trained_json: str, slot: int = -1) -> str:
    spec, store = load(spec_json)
    trained = Trained.from_json(json.loads(trained_json))
    return dump(study.analyze_trial(spec, store, read_config(config_path, slot), trained))


def report(spec_json: str, study_json: str, markdown_path: str) -> str:
    spec, store = load(spec_json)
    result = study.report_study(spec, store, StudyOpened.from_json(json.loads(study_json)).study_id)
    with open(markdown_path, "w") as f:
        f.write(result.markdown)
    return dump(result)
