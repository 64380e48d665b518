"""agenthpo inside Optuna: `AgentSampler` proposes with the Creator in a plain Optuna study, and
`to_optuna` copies an agenthpo study into Optuna (for its visualisations and dashboard).

    import optuna
    from agenthpo.integrations.optuna import AgentSampler

    sampler = AgentSampler(description="XGBoost on 3,276 water samples; F1 of the potable class.",
                           llm={"base_url": "http://127.0.0.1:8080/v1", "model": "local"}, seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=20)

The sampler learns the space from Optuna's distributions (the intersection of the finished trials', as
Optuna's multivariate TPE does): the first trial, and any parameter outside that space, is drawn by a
seeded `RandomSampler`. Each proposal is the `agent` proposer's (the Creator, hedged against TPE and a
Gaussian process), or another agenthpo proposer's (`proposer=`); its source and rationale are kept as the
trial's user attributes `agenthpo:source` and `agenthpo:rationale` (redacted).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from agenthpo.integrations.optuna_space import RATIONALE_ATTR, SOURCE_ATTR, held, history_of, snap, space_of
from agenthpo.llm.config import LLMConfig
from agenthpo.proposers import ProposerContext, SpaceExhausted, make_proposer, uses_llm
from agenthpo.redact import redact
from agenthpo.space import CategoricalParam, FloatParam, IntParam, OrdinalParam, SearchSpace
from agenthpo.trial import Objective, TrialRecord

_SEED_MAX = 2**32 - 1


class AgentSampler(BaseSampler):
    """An Optuna sampler whose proposals come from an agenthpo proposer (default: `agent`).

    Args:
        description: the task's background for the Creator (the model, the data, what matters).
        llm: the fields of a spec's `llm:` section (base_url, model, temperature, ...).
        seed: seeds the proposer and the independent sampler.
        proposer: any agenthpo proposer name ('agent', 'llm', 'tpe', 'random').
        metric: the objective's name in the Creator's prompt (default: the study's metric name, or 'value').

    Raises (when built, before any trial):
        FieldError: an `llm` field of the wrong type or range, named.
        ValueError: an unknown `proposer`.
    """

    def __init__(self, description: str = "", llm: Mapping[str, Any] | None = None, seed: int | None = None,
                 proposer: str = "agent", metric: str | None = None):
        self.description, self.proposer, self.metric = description, proposer, metric
        self.llm = LLMConfig.from_json(dict(llm or {}))
        uses_llm(proposer)  # ValueError for an unknown name, now rather than at the first trial
        self._seed = seed if seed is not None else int(np.random.SeedSequence().entropy % _SEED_MAX)
        self._random = RandomSampler(seed=seed)
        self._space = IntersectionSearchSpace()

    def reseed_rng(self) -> None:
        self._random.reseed_rng()
        self._seed = int(np.random.SeedSequence().entropy % _SEED_MAX)  # as RandomSampler reseeds: afresh

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        # Until a proposal replaces it: the trial's values are the independent sampler's random draws.
        study._storage.set_trial_user_attr(trial._trial_id, SOURCE_ATTR, "random")

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return held(self._space.calculate(study))

    def sample_relative(self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
                        ) -> dict[str, Any]:
        if not search_space:
            return {}
        if study._is_multi_objective():
            raise ValueError("AgentSampler proposes for single-objective studies; this study has "
                             f"{len(study.directions)} objectives")
        space = space_of(search_space)
        finished = study._get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED,
                                                             TrialState.FAIL, TrialState.RUNNING),
                                     use_cache=True)
        history = [t for t in history_of(finished, space) if t.number != trial.number + 1]
        try:
            proposal = self._proposer(study).propose(space, history, 1)[0]
        except SpaceExhausted:  # every configuration tried: Optuna allows repeats, drawn at random
            return {}
        study._storage.set_trial_user_attr(trial._trial_id, SOURCE_ATTR, proposal.source)
        if proposal.rationale:
            study._storage.set_trial_user_attr(trial._trial_id, RATIONALE_ATTR, redact(proposal.rationale)[:2000])
        return {name: snap(value, search_space[name]) for name, value in proposal.params.items()
                if name in search_space}

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def _proposer(self, study: Study):
        direction = "maximize" if study.direction == StudyDirection.MAXIMIZE else "minimize"
        names = study.metric_names
        objective = Objective(self.metric or (names[0] if names else "value"), direction)
        context = ProposerContext(study=study.study_name, description=self.description, llm=self.llm)
        return make_proposer(self.proposer, objective, self._seed, context=context)


# -- agenthpo studies as Optuna studies ---------------------------------------------------------------------
def distribution_of(param) -> BaseDistribution:
    """The Optuna distribution of an agenthpo parameter (an ordinal is categorical: Optuna has no order)."""
    if isinstance(param, FloatParam):
        return FloatDistribution(param.low, param.high, log=param.log)
    if isinstance(param, IntParam):
        return IntDistribution(param.low, param.high, log=param.log)
    if isinstance(param, CategoricalParam | OrdinalParam):
        return CategoricalDistribution(list(param.choices))
    raise TypeError(f"no Optuna distribution for {param!r}")


_STATE_OUT = {"FINISHED": TrialState.COMPLETE, "PRUNED": TrialState.PRUNED, "FAILED": TrialState.FAIL}


def optuna_trials(space: SearchSpace, history: Sequence[TrialRecord]) -> list[FrozenTrial]:
    """The ended trials (finished, pruned, failed) as Optuna's, with their distributions, source and run id."""
    distributions = {param.name: distribution_of(param) for param in space}
    trials = []
    for record in sorted(history, key=lambda t: t.number):
        state = _STATE_OUT.get(record.state.value)
        if state is None or any(name not in record.params for name in distributions):
            continue
        attrs = {SOURCE_ATTR: record.source, "agenthpo:trial": record.number, "agenthpo:run_id": record.run_id}
        if record.rationale:
            attrs[RATIONALE_ATTR] = record.rationale[:2000]
        trials.append(optuna.trial.create_trial(
            params={name: record.params[name] for name in distributions}, distributions=distributions,
            value=record.value if state == TrialState.COMPLETE else None, state=state, user_attrs=attrs))
    return trials


def to_optuna(study, storage: str | None = None, study_name: str | None = None) -> Study:
    """An Optuna study holding an agenthpo study's ended trials (`agenthpo.Study`, from `load_study`), in
    `storage` (an Optuna storage URL; default in memory) under `study_name` (default: the study's name)."""
    spec = study.spec
    direction = spec.objective.direction
    copied = optuna.create_study(storage=storage, study_name=study_name or spec.name, direction=direction)
    with warnings.catch_warnings():  # set_metric_names is "experimental" since Optuna 3.2: it works
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        copied.set_metric_names([spec.objective.metric])
    copied.add_trials(optuna_trials(spec.space, study.trials))
    return copied


__all__ = ["AgentSampler", "distribution_of", "optuna_trials", "to_optuna"]
