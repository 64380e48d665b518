"""Generations of a study: scheduled retuning as the data changes, warm starts, transfer between studies.

- **Generations.** Every run of a study fingerprints its data (`tasks.contracts.data_fingerprint`). The
  study run records the current generation and the fingerprint it trains on; a run that finds another
  fingerprint begins the next generation. Every trial is tagged with its generation, and the budget, the
  stop rules, the best trial and the report are per generation: a value measured on data that no longer
  exists is never compared with a new one.
- **Warm start.** A new generation first retrains the previous generation's `top_k` best configurations
  (source `warm_start`). `warm_start.study` seeds a new study the same way from another study's best,
  fitted into this study's space (`fit_to_space`: clipped or dropped, with a note).
- **Prior knowledge.** The proposers see earlier generations' finished trials as a prior, never as current
  trials (`prior_trials`): the Creator's log lists them under their generation, and the model-based
  proposers (`PriorInformed`) see them only by rank, mapped onto the current generation's values.

Only the standard library and the core's value objects: no MLflow, no KFP.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from agenthpo.errors import FieldError, reject_unknown
from agenthpo.space import CategoricalParam, SearchSpace
from agenthpo.trial import Objective, Proposal, Scalar, TrialRecord, TrialState

WARM_START = "warm_start"  # the source of a retrained configuration
PRIOR = "prior"  # the source an earlier generation's trial has when a model-based proposer sees it
_WARM_START_FIELDS = ("top_k", "study")
_FIRST = (WARM_START, "start")  # what a generation trains before its proposer: the spec's start, the warm starts
MAX_TOP_K = 100


@dataclass(frozen=True)
class WarmStart:
    """What a new generation, or a new study, trains first: the best configurations found before.

    `top_k`: how many of the previous generation's (or of `study`'s) best configurations are retrained
    first (0: none). `study`: another study, found by name in the same tracking store, whose best
    configurations this study starts from.

    Raises:
        FieldError: `top_k` when not an integer in [0, 100]; `study` when not a non-empty string.
    """

    top_k: int = 2
    study: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.top_k, int) or isinstance(self.top_k, bool) or not 0 <= self.top_k <= MAX_TOP_K:
            raise FieldError("top_k", f"{self.top_k!r} must be an integer in [0, {MAX_TOP_K}] (0: no warm start)")
        if self.study is not None and (not isinstance(self.study, str) or not self.study.strip()):
            raise FieldError("study", f"{self.study!r} must be the name of another study")

    @classmethod
    def from_json(cls, data: Any) -> WarmStart:
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise FieldError("", f"{data!r} must be a mapping such as {{top_k: 2}} or {{study: NAME, top_k: 3}}")
        reject_unknown(data, _WARM_START_FIELDS)
        return cls(data.get("top_k", 2), data.get("study"))

    def to_json(self) -> dict[str, Any]:
        return {"top_k": self.top_k, "study": self.study}


@dataclass(frozen=True)
class Generation:
    """The study's current generation: its number (from 1) and the fingerprint of the data it trains on
    ('' until a run records one).

    Raises:
        FieldError: `generation` when not an integer >= 1 (a hand-edited study run's tag, say).
    """

    number: int = 1
    fingerprint: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.number, int) or isinstance(self.number, bool) or self.number < 1:
            raise FieldError("generation", f"{self.number!r} must be an integer >= 1; set the study run's "
                                           f"agenthpo.generation tag to the generation it trains in")

    def after(self, fingerprint: str) -> Generation:
        """The generation a run on data with `fingerprint` trains in: this one, or the next when it changed."""
        if not self.fingerprint or self.fingerprint == fingerprint:
            return Generation(self.number, fingerprint)
        return Generation(self.number + 1, fingerprint)


def next_generation(spec, store, study_id: str, history: Sequence[TrialRecord], fingerprint: str
                    ) -> tuple[int, str]:
    """The generation this run trains in, recorded on the study run; and why it began ('' when it goes on).
    `fingerprint`: the data's (`tasks.contracts.data_fingerprint`), as the open step computed it once.

    Raises:
        FieldError: `warm_start.study` names a study the store does not hold (checked before any trial).
    """
    if spec.warm_start.study and not history and store.find_study(spec.warm_start.study) is None:
        raise FieldError("warm_start.study", f"{spec.warm_start.study!r}: no such study in {spec.tracking_uri}; "
                                             f"name a study recorded there, or remove warm_start.study")
    recorded = store.generation(study_id)
    now = recorded.after(fingerprint)
    if now == recorded:
        return now.number, ""
    began = ""
    if now.number != recorded.number:
        trained = len(of_generation(history, recorded.number))
        began = (f"the data changed since generation {recorded.number} ({trained} trials): generation "
                 f"{now.number} begins")
        if spec.warm_start.top_k:
            began += f", retraining generation {recorded.number}'s best {spec.warm_start.top_k} first"
    store.begin_generation(study_id, now, began or "first data seen")
    return now.number, began


def warm_starts(spec, store, history: Sequence[TrialRecord], generation: int) -> list[Proposal]:
    """The warm starts still to train: the previous generation's best in a new generation; another study's
    best (`warm_start.study`) in a new study's first generation."""
    top_k, other = spec.warm_start.top_k, spec.warm_start.study
    if generation > 1:
        return warm_start_proposals(spec.space, spec.objective, history, generation, top_k)
    if not other or any(t.source not in _FIRST for t in history):
        return []  # the warm starts come first: once another trial was opened, they are over
    other_id = store.find_study(other)
    # The other study's current generation: its values from older data are not compared with newer ones either.
    source = current_trials(store, other_id) if other_id is not None else []
    return warm_start_proposals(spec.space, spec.objective, history, generation, top_k, source, f"study {other}")


def current_trials(store, study_id: str, history: Sequence[TrialRecord] | None = None) -> list[TrialRecord]:
    """The trials of a study's current data generation: what its budget, stop rules and best count."""
    history = store.history(study_id) if history is None else history
    return of_generation(history, store.generation(study_id).number)


def of_generation(history: Sequence[TrialRecord], number: int) -> list[TrialRecord]:
    return [t for t in history if t.generation == number]


def earlier_slots(history: Sequence[TrialRecord], number: int) -> int:
    """Slots of the study's trial numbering held by earlier generations: the current generation's budget
    starts after them (the claims count every slot below a number, whatever its generation)."""
    from agenthpo.slots import holds_slot

    return sum(holds_slot(t.state) for t in history if t.generation < number)


def prior_trials(history: Sequence[TrialRecord], number: int) -> list[TrialRecord]:
    """The finished trials of the generations before `number`, latest generation first."""
    return sorted((t for t in history if t.generation < number and t.finished),
                  key=lambda t: (-t.generation, t.number))


def ranked(trials: Sequence[TrialRecord], objective: Objective) -> list[TrialRecord]:
    """Finished trials best first, one per configuration (its best result)."""
    order = sorted((t for t in trials if t.finished), key=lambda t: (t.value if objective.maximize else -t.value),
                   reverse=True)
    seen, best = set(), []
    for trial in order:
        key = tuple(sorted((k, repr(v)) for k, v in trial.params.items()))
        if key not in seen:
            seen.add(key)
            best.append(trial)
    return best


def warm_start_proposals(space: SearchSpace, objective: Objective, history: Sequence[TrialRecord],
                         generation: int, top_k: int, source: Sequence[TrialRecord] = (), origin: str = ""
                         ) -> list[Proposal]:
    """The warm starts still to train in this generation, in order.

    From the previous generation's best (`source` empty), or from `source`, another study's trials
    (`origin` names it). A configuration whose try in this generation was interrupted is proposed again;
    none once the generation has a trial of another source (the warm starts come first).
    """
    current = of_generation(history, generation)
    if any(t.source not in _FIRST for t in current):
        return []
    done = {space.key(t.params) for t in current if t.state != TrialState.INTERRUPTED}
    from_previous = not source
    if from_previous:
        source = of_generation(history, generation - 1)
        origin = f"generation {generation - 1}"
    proposals = []
    for rank, trial in enumerate(ranked(source, objective)[:top_k], start=1):
        params, notes = fit_to_space(space, trial.params)
        if params is None or space.key(params) in done:
            continue
        done.add(space.key(params))
        why = (f"warm start: #{rank} of {origin} (trial {trial.number}, {objective.metric}={trial.value:.4g} on "
               f"{'the previous data' if from_previous else 'that study'}), retrained first")
        proposals.append(Proposal(params, WARM_START, why + "".join(f"; {n}" for n in notes)))
    return proposals


def fit_to_space(space: SearchSpace, params: Mapping[str, Scalar]) -> tuple[dict[str, Scalar] | None, list[str]]:
    """A configuration from another study made to fit this space, and what was changed.

    Ranges are clipped; a parameter this space lacks is dropped; one it adds gets the middle of its range
    (the first choice); a choice this space no longer has drops the configuration (None).
    """
    fitted: dict[str, Scalar] = {}
    notes = [f"{name} dropped (not in this space)" for name in params if name not in space.names]
    for param in space:
        if param.name not in params:
            fitted[param.name] = _middle(param)
            notes.append(f"{param.name} set to {fitted[param.name]!r} (not in the source)")
            continue
        value = params[param.name]
        if isinstance(param, CategoricalParam):
            try:
                fitted[param.name] = param.validate(value)
            except FieldError:
                return None, [f"{param.name}={value!r} is no longer a choice"]
            continue
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None, [f"{param.name}={value!r} is not a number"]
        clipped = min(max(value, param.low), param.high)
        fitted[param.name] = param.validate(round(clipped) if param.kind == "int" else float(clipped))
        if clipped != value:
            notes.append(f"{param.name} clipped from {value!r} to {fitted[param.name]!r}")
    return fitted, notes


def _middle(param) -> Scalar:
    if isinstance(param, CategoricalParam):
        return param.choices[0]
    middle = math.sqrt(param.low * param.high) if param.log else (param.low + param.high) / 2
    return param.validate(round(middle) if param.kind == "int" else float(middle))


def as_prior(prior: Sequence[TrialRecord], current: Sequence[TrialRecord], objective: Objective
             ) -> list[TrialRecord]:
    """Earlier generations' finished trials as points a model-based proposer can learn from: each keeps
    only its rank within its own generation, mapped onto the current generation's values (its own value
    while the current generation has fewer than two finished trials), as a finished trial of source
    `prior` under its own (earlier) number."""
    values = sorted(t.value for t in current if t.finished)
    by_generation: dict[int, list[TrialRecord]] = {}
    for trial in prior:
        if trial.finished:
            by_generation.setdefault(trial.generation, []).append(trial)
    mapped = []
    for trials in by_generation.values():
        order = sorted(trials, key=lambda t: t.value)
        for rank, trial in enumerate(order):
            quantile = rank / max(len(order) - 1, 1)
            value = values[round(quantile * (len(values) - 1))] if len(values) >= 2 else trial.value
            mapped.append(replace(trial, value=value, source=PRIOR))
    return sorted(mapped, key=lambda t: t.number)


def latest_generation(prior: Sequence[TrialRecord]) -> list[TrialRecord]:
    """The trials of the latest generation in `prior`: what a model-based proposer takes as its prior."""
    latest = max((t.generation for t in prior), default=0)
    return [t for t in prior if t.generation == latest]


class PriorInformed:
    """A model-based proposer that also learns from earlier generations (`as_prior`), through its public
    `propose` only. The proposals are the inner proposer's; none is ever a prior configuration again."""

    def __init__(self, inner, prior: Sequence[TrialRecord], objective: Objective):
        self.inner, self.prior, self.objective = inner, list(prior), objective

    def propose(self, space: SearchSpace, history: Sequence[TrialRecord], n: int) -> list[Proposal]:
        return self.inner.propose(space, [*as_prior(self.prior, history, self.objective), *history], n)


def generations_section(history: Sequence[TrialRecord], objective: Objective) -> str:
    """The report's Generations section (Markdown; '' for a study whose data never changed): each
    generation's best, and how the previous best did when retrained on the new data."""
    numbers = sorted({t.generation for t in history})
    if len(numbers) < 2:
        return ""
    lines = ["## Generations", "",
             f"The data changed {len(numbers) - 1} time(s). Each generation's trials are compared only with each "
             f"other: the best above is generation {numbers[-1]}'s.", "",
             f"| generation | trials | best trial | best {objective.metric} | warm starts |", "|---|---|---|---|---|"]
    best_of = {}
    for number in numbers:
        trials = of_generation(history, number)
        best = (ranked(trials, objective) or [None])[0]
        best_of[number] = best
        warm = sum(t.source == WARM_START for t in trials)
        lines.append(f"| {number} | {len(trials)} | {best.number if best else '-'} | "
                     f"{f'{best.value:.6g}' if best else '-'} | {warm or '-'} |")
    moves = []
    for previous, number in zip(numbers, numbers[1:], strict=False):
        old = best_of[previous]
        again = [t for t in of_generation(history, number) if t.finished and old is not None
                 and t.source == WARM_START and dict(t.params) == dict(old.params)]
        if old is not None and again:
            moves.append(f"- generation {previous}'s best (trial {old.number}, {old.value:.6g}) scored "
                         f"{again[0].value:.6g} retrained on generation {number}'s data (trial {again[0].number})")
    if moves:
        lines += ["", "How the best moved:", *moves]
    return "\n".join(lines) + "\n"
