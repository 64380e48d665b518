"""Early stopping (agenthpo.pruning): the spec's `pruner:` value object, the median and ASHA rules on
synthetic curves, the cached read of the other trials' curves, and the monitor that stops a trial."""

import math

import pytest

from agenthpo.errors import FieldError
from agenthpo.pruning import (
    ASHA,
    MEDIAN,
    Peer,
    PeerCurves,
    PrunerSpec,
    PruningMonitor,
    Rule,
    TrialPruned,
    monitor_for,
    watched_curve,
)


def curve(*values, start=1):
    return tuple((start + i, float(v)) for i, v in enumerate(values))


def peers(*curves, finished=True):
    return [Peer(i + 1, finished, c) for i, c in enumerate(curves)]


def median_rule(maximize=True, **options):
    return Rule(PrunerSpec(MEDIAN, {"n_startup_trials": 2, **options}), "validation_accuracy", maximize, "epoch")


def asha_rule(maximize=True, **options):
    return Rule(PrunerSpec(ASHA, options), "validation_accuracy", maximize, "epoch")


# -- the spec --------------------------------------------------------------------------------------

def test_the_defaults_are_optunas():
    assert PrunerSpec().to_json() == {"name": "none"} and not PrunerSpec().enabled
    assert PrunerSpec.from_json("median").to_json() == {"name": "median", "n_startup_trials": 5, "n_warmup_steps": 0,
                                                        "interval_steps": 1}
    assert PrunerSpec.from_json({"name": "asha"}).to_json() == {"name": "asha", "min_resource": 1,
                                                                "reduction_factor": 3, "min_early_stopping_rate": 0}
    assert PrunerSpec.from_json(None) == PrunerSpec()


@pytest.mark.parametrize("data", ["none", {"name": "median", "n_warmup_steps": 4, "metric": "validation_loss",
                                           "direction": "minimize"}, {"name": "asha", "reduction_factor": 2}])
def test_one_json_round_trip(data):
    spec = PrunerSpec.from_json(data)
    assert PrunerSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize("data, path, words", [
    ("mediam", "name", "did you mean 'median'"),
    ({"name": "median", "n_startup_trial": 3}, "n_startup_trial", "n_startup_trials"),
    ({"name": "median", "min_resource": 3}, "min_resource", ""),  # asha's option, not the median's
    ({"name": "median", "n_warmup_steps": -1}, "n_warmup_steps", "-1 must be an integer >= 0"),
    ({"name": "median", "interval_steps": 0}, "interval_steps", "0 must be an integer >= 1"),
    ({"name": "asha", "reduction_factor": 1}, "reduction_factor", "1 must be an integer >= 2"),
    ({"name": "asha", "min_resource": True}, "min_resource", "True must be an integer >= 1"),
    ({"name": "asha", "metric": ""}, "metric", "the name of a curve"),
    ({"name": "asha", "direction": "up"}, "direction", "'maximize' or 'minimize'"),
    (3, "", "must be a name"),
])
def test_a_bad_pruner_names_the_field_and_the_value(data, path, words):
    with pytest.raises(FieldError) as raised:
        PrunerSpec.from_json(data)
    assert raised.value.path == path
    assert words in str(raised.value)


# -- the median rule -------------------------------------------------------------------------------

def test_the_median_rule_prunes_the_worse_and_keeps_the_better():
    others = peers(curve(0.5, 0.6, 0.7), curve(0.6, 0.7, 0.8), curve(0.4, 0.5, 0.6))
    rule = median_rule()
    reason = rule.decide(curve(0.2, 0.3), others)
    assert reason == ("validation_accuracy 0.3 (its best so far) at epoch 2, below the median 0.6 of 3 finished "
                      "trials at epoch 2")
    assert rule.decide(curve(0.5, 0.65), others) is None
    assert rule.decide(curve(0.7, 0.6), others) is None  # its best so far (0.7) is above the median


def test_the_median_rule_minimizes_too():
    others = peers(curve(1.0, 0.8), curve(0.9, 0.7), curve(1.2, 1.0))
    rule = median_rule(maximize=False)
    assert "above the median 0.8" in rule.decide(curve(1.5, 1.4), others)
    assert rule.decide(curve(0.9, 0.75), others) is None


def test_the_median_rule_waits_for_its_start_up_trials():
    one = peers(curve(0.9, 0.9))
    assert median_rule(n_startup_trials=2).decide(curve(0.1, 0.1), one) is None
    assert median_rule(n_startup_trials=1).decide(curve(0.1, 0.1), one) is not None


def test_the_median_rule_counts_only_finished_trials():
    pruned_ones = peers(curve(0.9, 0.9), curve(0.9, 0.9), finished=False)
    assert median_rule().decide(curve(0.1, 0.1), pruned_ones) is None


def test_the_median_rule_respects_the_warm_up_and_the_interval():
    others = peers(*[curve(*[0.9] * 10)] * 3)
    bad = curve(*[0.1] * 4)
    assert median_rule(n_warmup_steps=5).decide(bad, others) is None
    assert median_rule(n_warmup_steps=4).decide(bad, others) is not None
    assert median_rule(interval_steps=3).decide(bad, others) is None  # step 4: checked at 3, 6, 9
    assert median_rule(interval_steps=3).decide(curve(*[0.1] * 3), others) is not None


def test_the_median_rule_judges_the_first_report_in_each_interval():
    """As Optuna's MedianPruner: a task that reports at steps 1, 3, 5 with interval_steps 2 is judged at each
    (its steps are never multiples of 2), and one that reports every step only once per interval."""
    def sparse(*values):
        return tuple((1 + 2 * i, float(v)) for i, v in enumerate(values))

    others = peers(*[sparse(0.9, 0.9, 0.9)] * 3)
    rule = median_rule(interval_steps=2)
    assert rule.decide(sparse(0.1), others) is not None  # step 1, in the interval [0, 2)
    assert rule.decide(sparse(0.5, 0.4), others) is not None  # step 3, the first in [2, 4)
    dense, rule = peers(*[curve(*[0.9] * 6)] * 3), median_rule(interval_steps=3, n_warmup_steps=1)
    assert rule.decide(curve(0.5), dense) is not None  # step 1, the first in [1, 4)
    assert rule.decide(curve(0.5, 0.5), dense) is None  # step 2: step 1 was judged in this interval
    assert rule.decide(curve(0.5, 0.5, 0.5, 0.5), dense) is not None  # step 4, the first in [4, 7)


def test_the_median_rule_compares_at_the_same_step_only():
    short = peers(curve(0.9, 0.9), curve(0.9, 0.9))  # they stopped at step 2
    assert median_rule().decide(curve(0.1, 0.1, 0.1), short) is None


def test_a_diverged_curve_is_pruned_at_once():
    assert median_rule().decide(curve(0.5, math.nan), []) == "validation_accuracy is nan at epoch 2"


# -- ASHA ------------------------------------------------------------------------------------------

def test_asha_keeps_the_best_third_at_each_rung():
    # Rungs at 1, 3, 9 (min_resource 1, reduction factor 3). At step 1, six peers: the cut is the 2nd best.
    others = peers(*(curve(v, v, v) for v in (0.9, 0.8, 0.7, 0.6, 0.5, 0.4)))
    assert asha_rule().decide(curve(0.85), others) is None
    reason = asha_rule().decide(curve(0.75), others)
    assert reason == ("validation_accuracy 0.75 at epoch 1 (rung 0) is not in the best 1/3 of 7 trials there "
                      "(the cut is 0.8)")


def test_asha_promotes_the_first_trials_at_a_rung_only_as_the_best():
    assert asha_rule().decide(curve(0.5), []) is None  # the first trial
    assert asha_rule().decide(curve(0.5), peers(curve(0.6))) is not None
    assert asha_rule().decide(curve(0.7), peers(curve(0.6))) is None


def test_asha_judges_each_rung_once_when_the_trial_reaches_it():
    rule = asha_rule(reduction_factor=2)  # rungs at 1, 2, 4
    others = peers(curve(0.5, 0.6, 0.7, 0.8))
    assert rule.decide(curve(0.6), others) is None and rule.rung == 1
    assert rule.decide(curve(0.6, 0.7), others) is None and rule.rung == 2
    assert rule.decide(curve(0.6, 0.7, 0.1), others) is None and rule.rung == 2  # step 3: no rung
    assert "rung 2" in rule.decide(curve(0.6, 0.7, 0.1, 0.2), others)


def test_asha_compares_a_stopped_trial_only_at_the_rungs_it_competed_at():
    """One report can pass several rungs: a trial that reported first at epoch 4 and was stopped at rung 0
    (epoch 1) never competed at rungs 1 and 2 (epochs 2 and 4), though its curve reaches past them."""
    stopped_at_rung_0 = Peer(1, False, curve(0.9, start=4), rungs=1)
    ahead = Peer(2, True, curve(0.5, 0.6, 0.7, 0.8))
    rule = asha_rule(reduction_factor=2)  # rungs at 1, 2, 4
    assert rule.decide(curve(0.6), [ahead]) is None and rule.competed == 1  # promoted, the first at rung 0
    assert rule.decide(curve(0.6, 0.65), [stopped_at_rung_0, ahead]) is None  # rung 1: 0.65 >= 0.6, the best
    counted_anyway = Peer(1, False, curve(0.9, start=4))  # as if it had competed at every rung it reached
    rule = asha_rule(reduction_factor=2)
    assert rule.decide(curve(0.6), [ahead]) is None
    assert "rung 1" in rule.decide(curve(0.6, 0.65), [counted_anyway, ahead])


def test_an_asha_stop_says_how_many_rungs_the_trial_competed_at_and_a_median_one_does_not():
    ahead = {"1": Peer(1, True, curve(0.9, 0.9, 0.9, 0.9))}
    monitor = PruningMonitor(asha_rule(reduction_factor=2), PeerCurves(lambda known: ahead))
    monitor(1, {"validation_accuracy": 0.95})  # rung 0 (epoch 1): promoted
    with pytest.raises(TrialPruned) as raised:
        monitor(2, {"validation_accuracy": 0.1})  # rung 1 (epoch 2): stopped there
    assert raised.value.rungs == 2
    median = PruningMonitor(median_rule(n_startup_trials=1), PeerCurves(lambda known: ahead))
    with pytest.raises(TrialPruned) as raised:
        median(1, {"validation_accuracy": 0.1})
    assert raised.value.rungs is None


def test_asha_with_min_resource_starts_later():
    others = peers(curve(0.9, 0.9, 0.9, 0.9))
    rule = asha_rule(min_resource=3)
    assert rule.decide(curve(0.1, 0.1), others) is None
    assert rule.decide(curve(0.1, 0.1, 0.1), others) is not None


# -- the cached read and the monitor -----------------------------------------------------------------

class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_the_other_trials_are_read_once_each_and_the_list_at_most_every_refresh():
    ended = {"a": Peer(1, True, curve(0.5))}
    asked = []

    def load(known):
        asked.append(set(known))
        return {k: v for k, v in ended.items() if k not in known}

    clock = Clock()
    cache = PeerCurves(load, refresh_seconds=30, clock=clock)
    assert [p.number for p in cache.get()] == [1]
    ended["b"] = Peer(2, False, curve(0.7))
    clock.now = 29.0
    assert [p.number for p in cache.get()] == [1] and cache.reads == 1
    clock.now = 30.0
    assert sorted(p.number for p in cache.get()) == [1, 2] and cache.reads == 2
    assert asked == [set(), {"a"}]  # the second read asks only for trials it has not seen


def test_the_monitor_raises_trial_pruned_with_the_step_and_the_reason():
    cache = PeerCurves(lambda known: {str(i): p for i, p in enumerate(peers(curve(0.3, 0.9), curve(0.3, 0.8)))})
    monitor = PruningMonitor(median_rule(), cache)
    monitor(1, {"validation_accuracy": 0.5, "train_loss": 1.0})
    monitor(2, {"train_loss": 0.9})  # a report without the watched curve is not judged
    with pytest.raises(TrialPruned) as raised:
        monitor(2, {"validation_accuracy": 0.4})  # best so far 0.5, below the median 0.85 at step 2
    assert raised.value.step == 2 and raised.value.value == 0.4
    assert "below the median" in raised.value.reason


def test_the_monitor_says_when_the_watched_curve_is_not_reported():
    monitor = PruningMonitor(median_rule(), PeerCurves(lambda known: {}))
    with pytest.raises(ValueError, match=r"pruner.metric='validation_accuracy' is not a curve the task reports "
                                         r"\(it reports \['val_acc'\]\)"):
        monitor(1, {"val_acc": 0.5})


class Plugin:
    pruning_curve = ("validation_accuracy", "maximize")
    step_name = "epoch"


def test_the_watched_curve_is_the_spec_s_then_the_plug_in_s_then_the_objective():
    assert watched_curve(PrunerSpec(MEDIAN), Plugin(), "accuracy", "maximize") == ("validation_accuracy", "maximize")
    assert watched_curve(PrunerSpec(MEDIAN), object(), "loss", "minimize") == ("loss", "minimize")
    spec = PrunerSpec(MEDIAN, {"metric": "validation_loss"})
    assert watched_curve(spec, Plugin(), "accuracy", "maximize") == ("validation_loss", "maximize")
    spec = PrunerSpec(MEDIAN, {"metric": "validation_loss", "direction": "minimize"})
    assert watched_curve(spec, Plugin(), "accuracy", "maximize") == ("validation_loss", "minimize")


def test_no_monitor_without_a_pruner():
    class Spec:
        pruner = PrunerSpec()

    assert monitor_for(Spec(), Plugin(), lambda metric, known: {}) is None


def test_the_last_step_is_never_judged():
    """A trial at its last step has nothing left to save: pruning it would only lose its result."""
    from agenthpo.tasks import TrialContext

    judged = []
    ctx = TrialContext(on_report=lambda step, values: judged.append(step))
    ctx.last_step = 3
    for step in (1, 2, 3):
        ctx.report(step, validation_accuracy=0.5)
    assert judged == [1, 2] and [s for s, _ in ctx.curves["validation_accuracy"]] == [1, 2, 3]
