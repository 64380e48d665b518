"""Optuna's TPE through ask-and-tell over the study's history.

No Optuna storage is kept beside MLflow, the one record of the study: the proposer replays the history
into an in-memory Optuna study. That study is kept for the process (`_KEPT` of them) and each call adds
only the trials that ended since (issue 14: a replay per call cost 13-29x Optuna's own `ask()` at 1,000
trials). A fresh sampler seeded as before is set on it each call, so the proposals are those of a full
replay of the same history; when the ended trials are not the kept ones plus new ones at the end (a
lower-numbered trial ended late, a trial was deleted), the study is replayed afresh.

A configuration already tried is never proposed again. TPE learns nothing from a duplicate told FAIL, so
in a small discrete space whose favoured configurations were all tried it would ask them forever: after
`_ASKS` such asks the proposal is drawn at random among the untried ones, and its rationale says so.
"""

from __future__ import annotations

import json
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agenthpo.proposers.base import (
    ProposerContext,
    check_n,
    draw_distinct,
    history_rng,
    tried_keys,
)
from agenthpo.space import CategoricalParam, FloatParam, IntParam, OrdinalParam, Param, Scalar, SearchSpace
from agenthpo.trial import Objective, Proposal, TrialRecord, TrialState

# Optuna's own default; a spec can lower it (`proposer: {name: tpe, n_startup_trials: 3}`).
DEFAULT_STARTUP_TRIALS = 10
# Asks of tried configurations before one proposal is drawn at random among the untried ones instead.
_ASKS = 20


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
        kept = _replayed(self.objective, space, distributions, history)
        study, trained = kept.study, kept.trained
        study.sampler = sampler
        # The ended trials' keys are kept with their replay: only the running ones are keyed here.
        taken = kept.keys | tried_keys(space, [t for t in history if t.state not in _REPLAYED_STATES])
        proposals, asked_trials = [], []
        rng = history_rng(self.seed, history, salt=1)
        try:
            for _ in range(n):
                config = _ask_untried(study, space, distributions, taken, asked_trials)
                if config is not None:
                    phase = "startup (random)" if trained < self.n_startup_trials else "TPE model"
                    rationale = f"Optuna TPE, {phase}, after {trained} trials"
                else:  # a small discrete space whose favoured configurations are all tried: TPE asks them again
                    config = draw_distinct(space, taken, lambda: space.sample(rng), "tpe")
                    rationale = (f"Optuna TPE asked only tried configurations in {_ASKS} asks, after {trained} "
                                 f"trials; an untried one drawn at random instead")
                proposals.append(Proposal(config, self.source, rationale))
        finally:  # the kept study holds results only: these come back as trials once they ended
            for asked in asked_trials:
                study.tell(asked, state=optuna.trial.TrialState.FAIL)
        return proposals


def _ask_untried(study, space: SearchSpace, distributions: dict, taken: set[tuple],
                 asked_trials: list) -> dict[str, Scalar] | None:
    """TPE's next configuration not in `taken` (added to it), its Optuna trial appended to `asked_trials`;
    None after _ASKS asks of tried ones. A duplicate is told FAIL, which TPE ignores: where all it favours
    was tried, it asks the same again, so more asks would not help."""
    import optuna

    for _ in range(_ASKS):
        asked = study.ask(distributions)
        config = space.validate({p.name: _from_optuna(p, asked.params[p.name]) for p in space})
        key = space.key(config)
        if key not in taken:
            asked_trials.append(asked)
            taken.add(key)
            return config
        study.tell(asked, state=optuna.trial.TrialState.FAIL)
    return None


@dataclass
class _Replay:
    study: Any
    replayed: list[tuple]  # (run id, number, state, value) of each trial replayed, in order
    trained: int  # of them, the ones added to the study (finished, failed or pruned, within the space)
    keys: set[tuple] = field(default_factory=set)  # `SearchSpace.key` of each trial added


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
              history: Sequence[TrialRecord]) -> _Replay:
    """The Optuna study holding the history's ended trials in order, with how many it holds and their keys."""
    import optuna

    ended = [t for t in history if t.state in _REPLAYED_STATES]
    marks = [(t.run_id, t.number, t.state, t.value) for t in ended]
    key = (objective.direction, json.dumps(space.to_json(), sort_keys=True), marks[0][0] if marks else "")
    kept = _REPLAYS.pop(key, None)
    if kept is None or marks[:len(kept.replayed)] != kept.replayed:
        kept = _Replay(optuna.create_study(direction=objective.direction), [], 0)
    for trial in ended[len(kept.replayed):]:
        replayed = _replay(space, distributions, trial)
        if replayed is not None:
            kept.study.add_trial(replayed[0])
            kept.keys.add(replayed[1])
            kept.trained += 1
    kept.replayed = marks
    _REPLAYS[key] = kept
    while len(_REPLAYS) > _KEPT:
        _REPLAYS.popitem(last=False)
    return kept


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


def _replay(space: SearchSpace, distributions: dict, trial: TrialRecord) -> tuple[Any, tuple] | None:
    """(the trial as Optuna's frozen trial, its configuration's key); None when it has no place in the study."""
    import optuna

    if trial.state not in (TrialState.FINISHED, TrialState.FAILED, TrialState.PRUNED):
        return None
    try:
        config = space.validate(trial.params)
    except ValueError:
        return None
    params = {p.name: _to_optuna(p, config[p.name]) for p in space}
    if trial.state == TrialState.FINISHED:
        frozen = optuna.trial.create_trial(params=params, distributions=distributions, value=trial.value)
    else:  # a pruned trial is Optuna's PRUNED without intermediate values: TPE ranks it below every complete one
        state = optuna.trial.TrialState.PRUNED if trial.state == TrialState.PRUNED else optuna.trial.TrialState.FAIL
        frozen = optuna.trial.create_trial(params=params, distributions=distributions, state=state)
    return frozen, space.key(config)
