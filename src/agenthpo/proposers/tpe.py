"""Optuna's TPE through ask-and-tell, replaying the study's history on every call.

No Optuna storage is kept: MLflow is the one record of the study, so the proposer rebuilds an
in-memory Optuna study from the history each time. That is cheap at HPO scale (hundreds of trials)
and makes the pipeline step stateless.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
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
        study = optuna.create_study(direction=self.objective.direction, sampler=sampler)
        for trial in history:
            frozen = _replay(space, distributions, trial)
            if frozen is not None:
                study.add_trial(frozen)

        trained = len(study.trials)  # pending trials are not counted: nothing was learnt from them
        taken = tried_keys(space, history)
        proposals = []
        for _ in range(n):
            for _ in range(MAX_REDRAWS):
                asked = study.ask(distributions)
                config = space.validate({p.name: _from_optuna(p, asked.params[p.name]) for p in space})
                key = space.key(config)
                if key not in taken:
                    break
                # Tell Optuna the duplicate is worthless to it so the next ask moves elsewhere.
                study.tell(asked, state=optuna.trial.TrialState.FAIL)
            else:
                raise SpaceExhausted(f"tpe: no untried configuration in {MAX_REDRAWS} asks")
            taken.add(key)
            phase = "startup (random)" if len(study.trials) <= self.n_startup_trials else "TPE model"
            proposals.append(Proposal(config, self.source, f"Optuna TPE, {phase}, after {trained} trials"))
        return proposals


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
