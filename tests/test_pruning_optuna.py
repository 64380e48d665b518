"""The median and ASHA rules decide as Optuna's MedianPruner and SuccessiveHalvingPruner do (the rules they
name), on random sequential studies: trials that report at steps 1, 2, 3, ... and trials that report
sparsely (every 2 or 3 steps, from an offset), values with and without ties, both directions and random
options. Each study runs trial after trial through Optuna (ask, report, should_prune, tell) and through
`Rule` with the ended trials as `Peer`s, as a training step sees them; every trial must stop at the same
step in both, or run to its end in both."""

import random

import optuna
import pytest

from agenthpo.pruning import ASHA, MEDIAN, Peer, PrunerSpec, Rule

STUDIES = 1500


def random_study(rng: random.Random, name: str) -> tuple[dict, bool, list[list[tuple[int, float]]]]:
    if name == MEDIAN:
        options = {"n_startup_trials": rng.randint(0, 4), "n_warmup_steps": rng.randint(0, 5),
                   "interval_steps": rng.randint(1, 4)}
    else:
        options = {"min_resource": rng.randint(1, 3), "reduction_factor": rng.randint(2, 4),
                   "min_early_stopping_rate": rng.randint(0, 1)}
    digits = rng.choice([1, 3])  # one digit: many ties at the median and at the rungs' cuts
    curves = []
    for _ in range(rng.randint(3, 12)):
        stride, offset = rng.choice([1, 1, 2, 3]), rng.randint(0, 2)
        steps = [offset + stride * k for k in range(1, rng.randint(2, 12))]
        level, slope = rng.random(), rng.uniform(-0.05, 0.1)
        curves.append([(s, round(level + slope * i + rng.uniform(-0.05, 0.05), digits)) for i, s in enumerate(steps)])
    return options, rng.random() < 0.5, curves


def optuna_stops(name: str, options: dict, maximize: bool, curves) -> list[int | None]:
    pruner = optuna.pruners.MedianPruner(**options) if name == MEDIAN else \
        optuna.pruners.SuccessiveHalvingPruner(**options)
    study = optuna.create_study(direction="maximize" if maximize else "minimize", pruner=pruner)
    stops = []
    for curve in curves:
        trial, stop = study.ask(), None
        for step, value in curve:
            trial.report(value, step)
            if trial.should_prune():
                stop = step
                break
        if stop is None:
            study.tell(trial, curve[-1][1])
        else:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        stops.append(stop)
    return stops


def our_stops(name: str, options: dict, maximize: bool, curves) -> list[int | None]:
    spec, ended, stops = PrunerSpec(name, options), [], []
    for number, curve in enumerate(curves, start=1):
        rule, own, stop = Rule(spec, "validation_accuracy", maximize), [], None
        for step, value in curve:
            own.append((step, value))
            if rule.decide(tuple(own), ended) is not None:
                stop = step
                break
        # As the store gives them back: a trial ASHA stopped says how many rungs it competed at.
        ended.append(Peer(number, stop is None, tuple(own), rule.competed if stop is not None and name == ASHA
                          else None))
        stops.append(stop)
    return stops


@pytest.fixture(autouse=True)
def quiet_optuna():
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    yield
    optuna.logging.set_verbosity(verbosity)


@pytest.mark.parametrize("name", [MEDIAN, ASHA])
def test_every_decision_is_optunas(name):
    differ, pruned = [], 0
    for seed in range(STUDIES):
        options, maximize, curves = random_study(random.Random(f"{name}-{seed}"), name)
        theirs, ours = optuna_stops(name, options, maximize, curves), our_stops(name, options, maximize, curves)
        pruned += sum(stop is not None for stop in theirs)
        if ours != theirs:
            differ.append((seed, options, maximize, theirs, ours))
    assert differ == [], f"{len(differ)} of {STUDIES} studies decided otherwise, e.g. {differ[0]}"
    assert pruned > STUDIES  # the studies do prune: agreeing on "never" would prove nothing
