"""An agenthpo study copied into Optuna: its ended trials with their distributions, readable by Optuna's tools."""

import optuna
import pytest

import agenthpo
from agenthpo.integrations.optuna import to_optuna
from agenthpo.integrations.optuna_space import SOURCE_ATTR

optuna.logging.set_verbosity(optuna.logging.WARNING)

# Whole studies, or the CLI in subprocesses (seconds each).
pytestmark = pytest.mark.slow


@pytest.fixture
def study(sqlite_uri):
    made = agenthpo.create_study(
        name="export", tracking_uri=sqlite_uri, proposer="random", seed=2, budget={"trials": 6},
        space={"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}, "depth": {"type": "int", "low": 1,
               "high": 6}, "act": {"type": "categorical", "choices": ["relu", "tanh"]},
               "batch": {"type": "ordinal", "choices": [16, 32, 64]}},
        objective={"metric": "accuracy", "direction": "maximize"})

    def train(params, ctx):
        if params["depth"] == 6:
            raise RuntimeError("too deep")
        return 0.5 + 0.05 * params["depth"] + (0.1 if params["act"] == "relu" else 0.0)

    made.optimize(train, report=False)
    return made


def test_the_copy_has_the_ended_trials_distributions_and_best(study, tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    copied = to_optuna(study, storage=storage)
    ended = [t for t in study.trials if t.state.value in ("FINISHED", "FAILED", "PRUNED")]
    assert len(copied.trials) == len(ended) == 6
    assert copied.direction == optuna.study.StudyDirection.MAXIMIZE and copied.metric_names == ["accuracy"]
    assert copied.best_value == study.best_value and copied.best_params == study.best_params
    first = copied.trials[0]
    assert set(first.distributions) == {"lr", "depth", "act", "batch"}
    assert first.distributions["lr"] == optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)
    assert first.distributions["batch"] == optuna.distributions.CategoricalDistribution([16, 32, 64])
    assert first.user_attrs[SOURCE_ATTR] == "random" and first.user_attrs["agenthpo:run_id"] == study.trials[0].run_id
    failed = [t for t in study.trials if t.state.value == "FAILED"]
    assert sum(t.state == optuna.trial.TrialState.FAIL for t in copied.trials) == len(failed)
    # Optuna's own tools read it back from its storage.
    loaded = optuna.load_study(study_name="export", storage=storage)
    assert len(loaded.trials) == 6 and loaded.best_value == study.best_value
    assert loaded.trials_dataframe()["value_accuracy"].max() == study.best_value  # named by the metric


def test_optunas_charts_draw_it(study):
    from optuna.visualization import matplotlib as charts

    copied = study.to_optuna()
    assert charts.plot_optimization_history(copied) is not None
    assert charts.plot_param_importances(copied) is not None
