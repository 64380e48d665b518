"""On a cluster every step is retried (KFP's `set_retry` with backoff) and idempotent: a retried Creator does
not propose or claim twice, a retried training step does not train a trial twice nor count it twice.

The compiled YAML is checked for every task's retry policy; the retries themselves are played out on
SQLite the way KFP would run them: the same step again, with the same inputs (a training process killed
for real by SIGKILL, as the OOM killer does).
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from agenthpo.pipelines.study_pipeline import compile_pipeline
from agenthpo.tracking import MlflowStudyStore
from agenthpo.tracking.claims import ClaimBook
from conftest import ROOT, quadratic_spec

from agenthpo import names, study
from agenthpo.slots import STEP_RETRIES
from agenthpo.spec import load_spec, parse_spec
from agenthpo.trial import Proposal, TrialState


def container_tasks(doc: dict) -> dict[str, dict]:
    """Every task that runs a container, in the root DAG and inside the ParallelFor DAGs, by display name."""
    dags = [doc["root"]["dag"]] + [c["dag"] for c in doc["components"].values() if "dag" in c]
    return {t["taskInfo"]["name"]: t for dag in dags for t in dag["tasks"].values()
            if "dag" not in doc["components"][t["componentRef"]["name"]]}


@pytest.mark.parametrize("parallel, trials", [(1, 3), (2, 5)])
def test_every_step_is_retried_with_backoff(tmp_path, parallel, trials):
    spec = load_spec(ROOT / "examples" / "water-potability.yaml").replace(parallel=parallel)
    doc = next(yaml.safe_load_all(compile_pipeline(spec, tmp_path / "p.yaml", trials=trials).read_text()))
    tasks = container_tasks(doc)
    assert len(tasks) == 2 + (trials * 3 if parallel == 1 else -(-trials // parallel) * 3)
    for name, task in tasks.items():
        assert task["retryPolicy"] == {"maxRetryCount": STEP_RETRIES, "backoffDuration": "30s",
                                       "backoffFactor": 2.0, "backoffMaxDuration": "600s"}, name
    # Each Creator learns which step it is, for a retry to find what it opened: the run id and task name.
    for name, task in tasks.items():
        if name.endswith("-creator"):
            parameters = task["inputs"]["parameters"]
            assert parameters["job_id"]["runtimeValue"]["constant"] == "{{$.pipeline_job_uuid}}"
            assert parameters["task_name"]["runtimeValue"]["constant"] == "{{$.pipeline_task_name}}"


def test_the_local_runner_gets_no_retries_its_driver_records_a_dead_step(tmp_path):
    from agenthpo.pipelines.study_pipeline import build_pipeline
    from kfp import compiler

    spec = load_spec(ROOT / "examples" / "water-potability.yaml")
    # As `tune` builds it: no retries, and no report step (its driver reports once, after the last run).
    compiler.Compiler().compile(build_pipeline(spec, 2, report=False), str(tmp_path / "local.yaml"))
    tasks = container_tasks(next(yaml.safe_load_all((tmp_path / "local.yaml").read_text())))
    assert len(tasks) == 7 and not any("retryPolicy" in task for task in tasks.values())
    assert not any(name.startswith("report") for name in tasks)


def test_a_round_key_needs_both_placeholders_filled():
    assert study.round_key("3f2a", "creator-2") == "3f2a/creator-2"
    assert study.round_key("{{$.pipeline_job_uuid}}", "creator") == "" and study.round_key("", "creator") == ""


def make(uri: str, **overrides):
    spec = parse_spec(quadratic_spec(uri, **overrides), base_dir=None)
    store = MlflowStudyStore(uri)
    return spec, store, study.open_study(spec, store).study_id


def test_a_retried_creator_returns_the_round_it_opened_and_claims_nothing_more(sqlite_uri):
    spec, store, study_id = make(sqlite_uri, parallel=2, budget={"trials": 5, "max_failed_trials": 3})
    first = study.create_round(spec, store, study_id, key="run-1/creator")
    again = study.create_round(spec, MlflowStudyStore(sqlite_uri), study_id, key="run-1/creator")
    assert again == first and [c.number for c in first.configs] == [1, 2]
    assert store.slots_held(study_id) == 2 and len(store.history(study_id)) == 2
    other = study.create_round(spec, store, study_id, key="run-1/creator-2")  # the next Creator: new trials
    assert [c.number for c in other.configs] == [3, 4]


def test_a_retried_creator_s_round_carries_the_creator_s_usage_for_the_training_step_s_kfp_metrics(sqlite_uri):
    from agenthpo import names
    from agenthpo.trial import Proposal

    spec, store, study_id = make(sqlite_uri)
    usage = {names.usage_metric("creator", names.PROMPT_TOKENS): 900.0,
             names.usage_metric("creator", names.COMPLETION_TOKENS): 60.0}
    store.claim_trial(study_id, Proposal({"x": 0.2, "epochs": 3}, "llm", "why", metrics=usage), 3, "run-9/creator")
    retried = study.create_round(spec, MlflowStudyStore(sqlite_uri), study_id, key="run-9/creator")
    assert retried.configs[0].proposal.metrics == usage


def test_a_creator_that_died_while_claiming_is_retried_without_losing_or_doubling_a_slot(sqlite_uri, monkeypatch):
    spec, store, study_id = make(sqlite_uri, parallel=2, budget={"trials": 5, "max_failed_trials": 3})
    dying = MlflowStudyStore(sqlite_uri)
    claims = []

    def dies_after_the_second_claim(name, tags):
        claims.append(name)
        owner = ClaimBook.create_once(dying.book, name, tags)
        if len(claims) == 2:  # claimed, its run not numbered yet
            raise SystemExit("the Creator's pod was evicted")
        return owner

    monkeypatch.setattr(dying.book, "create_once", dies_after_the_second_claim)
    with pytest.raises(SystemExit):
        study.create_round(spec, dying, study_id, key="run-2/creator")
    assert [t.number for t in store.history(study_id)] == [1]  # number 2 is claimed, its run not numbered
    assert store.slots_held(study_id) == 2  # a claim in progress holds its slot
    retried = study.create_round(spec, store, study_id, key="run-2/creator")
    # Trial 1 as opened; claim 2's run given back (deleted), the second slot claimed afresh.
    assert [c.number for c in retried.configs] == [1, 3]
    assert store.slots_held(study_id) == 2 and [t.number for t in store.history(study_id)] == [1, 3]


def test_a_retried_training_step_returns_the_recorded_result_without_training_again(sqlite_uri):
    spec, store, study_id = make(sqlite_uri)
    config = study.create_trial(spec, store, study_id)
    trained = study.train_step(spec, store, config)
    assert trained.state == TrialState.FINISHED
    points = len(store.client.get_metric_history(config.trial_id, "train_loss"))
    again = study.train_step(spec, MlflowStudyStore(sqlite_uri), config)
    assert again == trained  # the same value and training time, read back
    assert len(store.client.get_metric_history(config.trial_id, "train_loss")) == points, "not trained again"
    assert store.client.get_run(config.trial_id).data.tags[names.TRAIN_ATTEMPTS] == "1"
    assert study.counted(store.history(study_id)) == (1, 0)


TRAIN_ONE = """
import json, sys
from agenthpo import study
from agenthpo.messages import TrialConfig
from agenthpo.spec import StudySpec
from agenthpo.tracking import MlflowStudyStore
from agenthpo.tracking.claims import ClaimBook
spec = StudySpec.from_json(json.loads(sys.argv[1]))
study.train_step(spec, MlflowStudyStore(spec.tracking_uri), TrialConfig.from_json(json.loads(sys.argv[2])))
"""


@pytest.mark.slow
def test_a_training_step_killed_mid_training_is_retried_in_the_same_run(sqlite_uri):
    spec, store, study_id = make(sqlite_uri, task_options={"sleep_seconds": 2.0})
    config = study.create_trial(spec, store, study_id)
    process = subprocess.Popen([sys.executable, "-c", TRAIN_ONE, json.dumps(spec.to_json()),
                                json.dumps(config.to_json())], env={**os.environ, "AGENTHPO_HEARTBEAT_SECONDS": "0.2"})
    deadline = time.monotonic() + 120
    while names.HEARTBEAT not in store.client.get_run(config.trial_id).data.tags:
        assert time.monotonic() < deadline and process.poll() is None, "the training step never started"
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)  # as the OOM killer or a lost node: nothing records the end
    assert process.wait(timeout=60) == -signal.SIGKILL
    assert store.history(study_id)[0].state == TrialState.RUNNING
    retried = study.train_step(spec, store, config)  # KFP's retry: the same step, the same trial
    assert retried.state == TrialState.FINISHED and retried.trial_id == config.trial_id
    (record,) = store.history(study_id)
    assert record.state == TrialState.FINISHED and record.run_id == config.trial_id and record.number == 1
    assert store.client.get_run(config.trial_id).data.tags[names.TRAIN_ATTEMPTS] == "2"
    assert study.counted(store.history(study_id)) == (1, 0)
    # Whatever the dead attempt logged, the curve has one point per epoch.
    assert [s for s, _ in store.curves(config.trial_id)["train_loss"]] == list(range(1, config.proposal.params[
        "epochs"] + 1))


def test_a_trial_whose_training_step_died_on_every_retry_is_a_recorded_failure(sqlite_uri):
    spec, store, study_id = make(sqlite_uri)
    config = study.create_trial(spec, store, study_id)
    for _ in range(STEP_RETRIES):  # two attempts started and died (their processes killed)
        store.start_training(config.trial_id)
    trained = study.train_step(spec, store, config)
    assert trained.state == TrialState.FAILED and f"died {STEP_RETRIES} times" in trained.error
    (record,) = store.history(study_id)
    assert record.state == TrialState.FAILED and "out of memory" in record.error
    assert study.counted(store.history(study_id)) == (1, 1)


def test_a_training_step_for_a_trial_given_back_trains_nothing(sqlite_uri):
    spec, store, study_id = make(sqlite_uri)
    config = study.create_trial(spec, store, study_id)
    assert store.mark_interrupted(config.trial_id, "a resume found it stale before its pod started")
    trained = study.train_step(spec, store, config)
    assert trained.state == TrialState.STOPPED and "INTERRUPTED" in trained.reason
    assert not store.client.get_metric_history(config.trial_id, "train_loss")
    assert study.analyze_trial(spec, store, config, trained).state == TrialState.STOPPED
    store.start_trial(study_id, 2, Proposal({"x": 0.4, "epochs": 2}, "random"))
    with pytest.raises(ValueError, match="trial number 2 of study .* is taken"):
        store.start_trial(study_id, 2, Proposal({"x": 0.5, "epochs": 2}, "random"))
