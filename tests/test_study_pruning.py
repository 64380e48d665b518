"""A study with a pruner, over a SQLite MLflow store: pruned trials are recorded results (state PRUNED, the
step and the reason), counted against the budget and never as failures, shown as pruned in the report, the
Creator's log and the Executor's note; a resumed study and a retried step keep them as they are.

The quadratic test task reports validation_loss = 1/epoch + x/10 each epoch: at any epoch a larger x is worse,
so the median rule prunes the trials whose x is above the finished trials' median."""

import pytest
from agenthpo.tracking import MlflowStudyStore
from conftest import quadratic_spec

from agenthpo import names, study
from agenthpo.agents.log import experimental_log
from agenthpo.messages import TrialConfig
from agenthpo.proposers.tpe import TPEProposer
from agenthpo.spec import parse_spec
from agenthpo.trial import TrialState

MEDIAN = {"name": "median", "n_startup_trials": 2, "metric": "validation_loss", "direction": "minimize"}


def make(sqlite_uri, trials=8, **overrides):
    overrides.setdefault("pruner", MEDIAN)
    spec = parse_spec(quadratic_spec(sqlite_uri, budget={"trials": trials, "max_failed_trials": 1}, **overrides),
                      base_dir=None)
    store = MlflowStudyStore(sqlite_uri)
    return spec, store, study.open_study(spec, store).study_id


def run(spec, store, study_id, count):
    for _ in range(count):
        config = study.create_trial(spec, store, study_id)
        study.analyze_trial(spec, store, config, study.train_step(spec, store, config))


def test_pruned_trials_are_recorded_results_counted_against_the_budget(sqlite_uri):
    spec, store, study_id = make(sqlite_uri)
    run(spec, store, study_id, 9)  # one more than the budget: the last round stops
    history = store.history(study_id)
    pruned = [t for t in history if t.state == TrialState.PRUNED]
    finished = [t for t in history if t.finished]
    assert len(history) == 8 and pruned and len(finished) >= 2
    assert not any(t.state == TrialState.FAILED for t in history)  # max_failed_trials=1 was never reached
    assert study.counted(history) == (8, 0)
    for trial in pruned:
        run_data = store.client.get_run(trial.run_id)
        tags = run_data.data.tags
        assert tags[names.PRUNED] == "true" and tags[names.STATE] == "PRUNED"
        assert run_data.info.status == "KILLED"
        assert trial.pruned_step == int(tags[names.PRUNED_STEP]) == 1  # no warm-up: the first epoch decides
        assert names.PRUNED_RUNGS not in tags  # ASHA's only
        assert "validation_loss" in trial.pruned_reason and "above the median" in trial.pruned_reason
        assert trial.params["x"] > min(t.params["x"] for t in finished)  # worse than a finished one at epoch 1
        assert trial.facts["verdict"] == "pruned"
        assert tags[names.NOTE].count("pruned") >= 1 and trial.pruned_reason in tags[names.NOTE]
        assert [m.step for m in store.client.get_metric_history(trial.run_id, "validation_loss")] == [1]
        assert trial.train_seconds is not None
    for trial in finished:
        assert trial.metrics[names.PRUNER_READS] == 1.0  # the other trials' curves read once per trial

    reported = study.report_study(spec, store, study_id)
    assert f"{len(pruned)} pruned (stopped early, counted)" in reported.markdown
    assert "## Pruned" in reported.markdown
    assert reported.summary[names.TRIALS_PRUNED] == len(pruned)
    assert reported.summary[names.TRIALS_FINISHED] == len(finished)
    assert reported.best.number in {t.number for t in finished}


def test_the_creator_log_and_tpe_read_pruned_trials(sqlite_uri):
    spec, store, study_id = make(sqlite_uri, trials=6)
    run(spec, store, study_id, 6)
    history = store.history(study_id)
    pruned = [t for t in history if t.state == TrialState.PRUNED]
    assert pruned
    log = experimental_log(spec.space, history, spec.objective)
    row = next(line for line in log.splitlines() if line.startswith(f"{pruned[0].number} |"))
    assert "PRUNED" in row and "above the median" in row
    proposal = TPEProposer(spec.objective, 0).propose(spec.space, history, 1)[0]
    assert spec.space.validate(proposal.params)


def test_a_study_resumes_after_a_pruned_trial(sqlite_uri):
    spec, store, study_id = make(sqlite_uri, trials=8)
    run(spec, store, study_id, 4)
    before = store.history(study_id)
    assert any(t.state == TrialState.PRUNED for t in before), "x uniform: some of trials 3-4 are pruned"
    # A new process: a fresh store on the same database, the study opened again.
    spec, store, resumed = make(sqlite_uri, trials=8)
    assert resumed == study_id and study.open_study(spec, store).trials_used == len(before)
    run(spec, store, study_id, 5)
    after = store.history(study_id)
    assert len(after) == 8 and [t.number for t in after] == list(range(1, 9))
    assert [(t.number, t.state) for t in after[:4]] == [(t.number, t.state) for t in before]


def test_a_retried_step_on_a_pruned_trial_does_not_train_it_again(sqlite_uri):
    spec, store, study_id = make(sqlite_uri, trials=8)
    configs = []
    for _ in range(6):
        config = study.create_trial(spec, store, study_id)
        trained = study.train_step(spec, store, config)
        configs.append((config, trained))
    config, trained = next((c, t) for c, t in configs if t.state == TrialState.PRUNED)
    again = study.train_step(spec, store, TrialConfig.from_json(config.to_json()))
    assert again.state == TrialState.PRUNED and again.reason == trained.reason
    assert store.history(study_id)[config.number - 1].state == TrialState.PRUNED


def test_an_asha_stop_records_the_rungs_the_trial_competed_at_and_the_next_trials_read_them(sqlite_uri):
    asha = {"name": "asha", "reduction_factor": 2, "metric": "validation_loss", "direction": "minimize"}
    spec, store, study_id = make(sqlite_uri, pruner=asha)
    run(spec, store, study_id, 8)
    pruned = [t for t in store.history(study_id) if t.state == TrialState.PRUNED]
    assert pruned, "x uniform: the later trials with a larger x are stopped at a rung"
    peers = store.peer_curves(study_id, "validation_loss", set())
    for trial in pruned:
        rung = int(trial.pruned_reason.split("(rung ")[1].split(")")[0])
        assert store.client.get_run(trial.run_id).data.tags[names.PRUNED_RUNGS] == str(rung + 1)
        assert peers[trial.run_id].rungs == rung + 1 and not peers[trial.run_id].finished
    assert all(p.rungs is None for p in peers.values() if p.finished)


def test_a_misspelt_pruner_metric_fails_the_trial_with_a_clear_error(sqlite_uri):
    spec, store, study_id = make(sqlite_uri, trials=2, pruner={"name": "median", "metric": "val_loss"})
    run(spec, store, study_id, 1)
    (trial,) = store.history(study_id)
    assert trial.state == TrialState.FAILED
    assert "pruner.metric='val_loss' is not a curve the task reports" in trial.error
    assert "validation_loss" in trial.error


@pytest.mark.parametrize("pruner", [None, "none"])
def test_without_a_pruner_nothing_is_pruned_or_read(sqlite_uri, pruner):
    spec, store, study_id = make(sqlite_uri, trials=4, pruner=pruner)
    run(spec, store, study_id, 4)
    history = store.history(study_id)
    assert all(t.finished for t in history)
    assert not any(names.PRUNER_READS in t.metrics for t in history)
