"""What a tuner sees in the MLflow UI: the experiment in the model-development view, trial run names that say
number, source and result, final scores at step 0, the study run's optimisation history at step = trial
number, the best trial tagged and linked first in the note with the baseline, sessions numbered."""

import pytest
from agenthpo.tracking import MlflowStudyStore
from conftest import quadratic_spec
from mlflow.tracking import MlflowClient

from agenthpo import names
from agenthpo.spec import parse_spec
from agenthpo.trial import Proposal


@pytest.fixture
def setup(sqlite_uri):
    store = MlflowStudyStore(sqlite_uri)
    return store, store.open_study(parse_spec(quadratic_spec(sqlite_uri), base_dir=None))


def test_the_experiment_opens_in_the_model_development_view(setup, sqlite_uri):
    store, study_id = setup
    client = MlflowClient(sqlite_uri)
    experiment = client.get_experiment_by_name("quadratic")
    assert experiment.tags[names.EXPERIMENT_KIND] == "custom_model_development"
    client.set_experiment_tag(experiment.experiment_id, names.EXPERIMENT_KIND, "genai_development")
    store.experiment_id("quadratic")  # a kind the user set is kept
    assert client.get_experiment(experiment.experiment_id).tags[names.EXPERIMENT_KIND] == "genai_development"
    other = client.create_experiment("made-elsewhere")
    store.experiment_id("made-elsewhere")
    assert client.get_experiment(other).tags[names.EXPERIMENT_KIND] == "custom_model_development"


def test_run_names_say_number_source_and_result(setup):
    store, study_id = setup
    name = lambda run_id: store.client.get_run(run_id).info.run_name  # noqa: E731
    claim = store.claim_trial(study_id, Proposal({"x": 0.2, "epochs": 2}, "tpe"), budget=5)
    assert name(claim.trial_id) == "trial-001 tpe"
    store.finish_trial(claim.trial_id, 0.71234, {"score": 0.71234}, {"train_loss": [(1, 1.0), (2, 0.5)]}, 1.0, None)
    assert name(claim.trial_id) == "trial-001 tpe score=0.7123"
    failed = store.claim_trial(study_id, Proposal({"x": 0.4, "epochs": 2}, "llm"), budget=5)
    store.fail_trial(failed.trial_id, "RuntimeError: boom", {}, 0.1)
    assert name(failed.trial_id) == "trial-002 llm FAILED"
    pruned = store.claim_trial(study_id, Proposal({"x": 0.6, "epochs": 2}, "random"), budget=5)
    store.prune_trial(pruned.trial_id, 3, "below the median", {"loss": [(3, 2.0)]}, 0.3, None, {})
    assert name(pruned.trial_id) == "trial-003 random pruned@3"
    # Final scores are one point at step 0, not at the last step of the curves.
    assert [m.step for m in store.client.get_metric_history(claim.trial_id, "score")] == [0]


def test_the_study_run_charts_each_trial_and_tags_the_best(setup):
    store, study_id = setup
    runs = {}
    for number, value in ((1, 0.5), (2, 0.8)):
        claim = store.claim_trial(study_id, Proposal({"x": value, "epochs": 2}, "random"), budget=5)
        store.finish_trial(claim.trial_id, value, {"score": value}, {}, 1.0, None)
        runs[number] = claim.trial_id
    header = store.write_progress(study_id, "score", [(1, 0.5, 0.5), (2, 0.8, 0.8)], runs[2],
                                  (0.61, "always class 0"))
    experiment = store.client.get_run(study_id).info.experiment_id
    assert header == (f"**Best: [trial 2](#/experiments/{experiment}/runs/{runs[2]})**, score = 0.8; "
                      f"trivial baseline (always class 0): score = 0.61")
    history = lambda key: [(m.step, m.value) for m in store.client.get_metric_history(study_id, key)]  # noqa: E731
    assert history("trial_score") == [(1, 0.5), (2, 0.8)] and history("best_so_far_score") == [(1, 0.5), (2, 0.8)]
    claim = store.claim_trial(study_id, Proposal({"x": 0.9, "epochs": 2}, "random"), budget=5)
    store.finish_trial(claim.trial_id, 0.9, {"score": 0.9}, {}, 1.0, None)
    store.write_progress(study_id, "score", [(1, 0.5, 0.5), (2, 0.8, 0.8), (3, 0.9, 0.9)], claim.trial_id, None)
    assert history("trial_score") == [(1, 0.5), (2, 0.8), (3, 0.9)]  # each point once
    tags = lambda run_id: store.client.get_run(run_id).data.tags.get(names.BEST)  # noqa: E731
    assert (tags(runs[1]), tags(runs[2]), tags(claim.trial_id)) == (None, "false", "true")


def test_sessions_are_numbered_on_the_study_run(setup):
    store, study_id = setup
    assert store.log_session(study_id, {"time/session_wall_seconds": 3.0}) == 1
    assert store.log_session(study_id, {"time/session_wall_seconds": 5.0}) == 2
    steps = [(m.step, m.value) for m in store.client.get_metric_history(study_id, "time/session_wall_seconds")]
    assert steps == [(1, 3.0), (2, 5.0)]
