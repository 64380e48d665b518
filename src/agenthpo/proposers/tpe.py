"""Optuna's TPE through ask-and-tell over the study's history.

No Optuna storage is kept beside MLflow, the one record of the study: the proposer replays the history
into an in-memory Optuna study. That study is kept for the process (`_KEPT` of them) and each call adds
only the trials that ended since (issue 14: a replay per call cost 13-29x Optuna's own `ask()` at 1,000
trials). A fresh sampler seeded as before is set on it each call, so the proposals are those of a full
replay of the same history; when the ended trials are not the kept ones plus new ones at the end (a
lower-numbered trial ended late, a trial was deleted), the study is replayed afresh.
"""

from __future__ import annotations

import json
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agenthpo.proposers.base import (
    MAX_REDRAWS,
    ProposerContext,
    SpaceExhausted,
    check_n,
    history_rng,
    tried_keys,
)
from agenthpo.space import CategoricalParam, FloatParam, IntParam, OrdinalParam, Param, Scalar, SearchSpace
from agenthpo.trial import Objective, Proposal, TrialRecord, TrialState

# Optuna's own default; a spec can lower it (`proposer: {name: tpe, n_startup_trials: 3}`).
DEFAULT_STARTUP_TRIALS = 10


class TPEProposer:
    name = "tpe"
    uses_llm = False

    def __init__(self, objective: Objective, seed: int = 0, context: ProposerContext | None = None,
                 n_startup_trials: int = DEFAULT_STARTUP_TRIALS, multivariate: bool = False,
                 source: str = "tpe"):
        if not isinstance(n_startup_trials, int) or n_startup_trials < 0:
            raise ValueError(f"n_startup_trials={n_startup_trials!r} must be an integer >= 0")
        self.objective = objective
        self.seed = seed
        self.n_startup_trials = n_startup_trials
        self.multivariate = bool(multivariate)
        self.source = source

    def propose(self, space: SearchSpace, history: Sequence[TrialRecord], n: int) -> list[Proposal]:
        """Pending configurations (RUNNING trials: a round's opened trials, another proposer's candidates)
        are avoided but not replayed: they have no result to learn from."""
        check_n(n)
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        distributions = {p.name: _distribution(p) for p in space}
        seed = int(history_rng(self.seed, history).integers(2**31 - 1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(
                seed=seed, n_startup_trials=self.n_startup_trials, multivariate=self.multivariate,
                constant_liar=n > 1,
            )
        study, trained = _replayed(self.objective, space, distributions, history)
        study.sampler = sampler
        taken = tried_keys(space, history)
        proposals, asked_trials = [], []
        try:
            for _ in range(n):
                for _ in range(MAX_REDRAWS):
                    asked = study.ask(distributions)
                    asked_trials.append(asked)
                    config = space.validate({p.name: _from_optuna(p, asked.params[p.name]) for p in space})
                    key = space.key(config)
                    if key not in taken:
                        break
                    # Tell Optuna the duplicate is worthless to it so the next ask moves elsewhere.
                    study.tell(asked_trials.pop(), state=optuna.trial.TrialState.FAIL)
                else:
                    raise SpaceExhausted(f"tpe: no untried configuration in {MAX_REDRAWS} asks")
                taken.add(key)
                phase = "startup (random)" if trained < self.n_startup_trials else "TPE model"
                proposals.append(Proposal(config, self.source, f"Optuna TPE, {phase}, after {trained} trials"))
        finally:  # the kept study holds results only: these come back as trials once they ended
            for asked in asked_trials:
                study.tell(asked, state=optuna.trial.TrialState.FAIL)
        return proposals


@dataclass
class _Replay:
    study: Any
    replayed: list[tuple]  # (run id, number, state, value) of each trial replayed, in order
    trained: int  # of them, the ones added to the study (finished, failed or pruned, within the space)


_KEPT = 8
_REPLAYS: OrderedDict[tuple, _Replay] = OrderedDict()
_REPLAYED_STATES = (TrialState.FINISHED, TrialState.FAILED, TrialState.PRUNED)


def keep_study(objective: Objective, space: SearchSpace, history: Sequence[TrialRecord]) -> None:
    """Bring the kept Optuna study of this history up to date without proposing: a process that forks
    Creator steps (the local runner's warm worker) calls it first, so that each child starts warm."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _replayed(objective, space, {p.name: _distribution(p) for p in space}, history)


def _replayed(objective: Objective, space: SearchSpace, distributions: dict,
              history: Sequence[TrialRecord]) -> tuple[Any, int]:
    """(the Optuna study holding the history's ended trials in order, how many it holds)."""
    import optuna

    ended = [t for t in history if t.state in _REPLAYED_STATES]
    marks = [(t.run_id, t.number, t.state, t.value) for t in ended]
    key = (objective.direction, json.dumps(space.to_json(), sort_keys=True), marks[0][0] if marks else "")
    kept = _REPLAYS.pop(key, None)
    if kept is None or marks[:len(kept.replayed)] != kept.replayed:
        kept = _Replay(optuna.create_study(direction=objective.direction), [], 0)
    for trial in ended[len(kept.replayed):]:
        frozen = _replay(space, distributions, trial)
        if frozen is not None:
            kept.study.add_trial(frozen)
            kept.trained += 1
    kept.replayed = marks
    _REPLAYS[key] = kept
    while len(_REPLAYS) > _KEPT:
        _REPLAYS.popitem(last=False)
    return kept.study, kept.trained


def _distribution(param: Param):
    import optuna.distributions as d

    if isinstance(param, FloatParam):
        return d.FloatDistribution(param.low, param.high, log=param.log)
    if isinstance(param, IntParam):
        return d.IntDistribution(param.low, param.high, log=param.log)
    if isinstance(param, OrdinalParam):
        # TPE's Parzen estimator over the index keeps the order that a categorical would lose.
        return d.IntDistribution(0, len(param.choices) - 1)
    assert isinstance(param, CategoricalParam)
    return d.CategoricalDistribution(list(param.choices))


def _to_optuna(param: Param, value: Scalar) -> Any:
    return param.index(value) if isinstance(param, OrdinalParam) else value


def _from_optuna(param: Param, value: Any) -> Scalar:
    return param.choices[int(value)] if isinstance(param, OrdinalParam) else value


def _replay(space: SearchSpace, distributions: dict, trial: TrialRecord):
    import optuna

    if trial.state not in (TrialState.FINISHED, TrialState.FAILED, TrialState.PRUNED):
        return None
    try:
        config = space.validate(trial.params)
    except ValueError:
        return None
    params = {p.name: _to_optuna(p, config[p.name]) for p in space}
    if trial.state == TrialState.FINISHED:
        return optuna.trial.create_trial(params=params, distributions=distributions, value=trial.value)
    # A pruned trial is Optuna's PRUNED without intermediate values: TPE ranks it below every complete one.
    state = optuna.trial.TrialState.PRUNED if trial.state == TrialState.PRUNED else optuna.trial.TrialState.FAIL
    return optuna.trial.create_trial(params=params, distributions=distributions, state=state)
