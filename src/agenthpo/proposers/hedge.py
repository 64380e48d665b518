"""The agent's hedge: whom to trust for the next trial, the Creator or the model, from the study's results.

Two arms propose: the Creator (the LLM; trials with source `llm`) and the model (the Gaussian-process
search and TPE; sources `gp`, `tpe`, and `fallback` where TPE stood in for an unusable answer). Credit
is assigned online: each finished trial is scored when it finishes by the share of the earlier finished
trials it beats (ties count half), so a pick is judged against everything the study knew when it was
made, start and random trials included. The study's first trial, with nothing before it, is scored
against the second (the two first picks judged against each other). An arm's credit is the mean of a
Beta(1, 1) prior updated with the scores of its latest CREDIT_WINDOW trials, (1 + sum of scores) /
(2 + scored trials): 0.5 before any evidence, 1/3 after one lost duel. The window makes trust follow
what an arm does now: a Creator that was lucky early and then keeps losing is not carried by its start.

The rule, for the first slot of a round (later slots of the same round go to the trusted arm):
1. No trial of either arm has finished: the Creator. A good Creator's first pick is where it gains most
   (the paper's trial-1 result), and a weak one's costs one trial.
2. One arm has finished trials and the other none: the other, so each arm is tried once before the
   results decide. The first trials are then judged against each other: the model's first pick is
   scored against the Creator's.
3. The trusted arm (higher credit; ties go to the Creator) has had the last STALL_TRIALS finished trials
   and none of them improved the best: the other arm gets one slot. The model always may (a Creator
   that got lucky early and then stalled is checked against it within a few trials); the Creator only
   if its credit is above STALL_FLOOR (one whose only scored pick lost everything is not asked again
   this way: a weak Creator costs one trial, not one in four).
4. Otherwise the trusted arm.
So a Creator whose picks lose stops being trusted after one or two trials, and one whose picks win
keeps being trusted; the model arm takes over only when its own results are better. Each decision
comes with its reason, recorded on the trial (tag `agenthpo.agent`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agenthpo.trial import Objective, TrialRecord, TrialState

CREATOR, MODEL = "Creator", "model"
CREATOR_SOURCES = frozenset({"llm"})
MODEL_SOURCES = frozenset({"gp", "tpe", "fallback"})
STALL_TRIALS = 3
STALL_FLOOR = 0.34
CREDIT_WINDOW = 5
PRUNED_SCORE = 0.25


@dataclass(frozen=True)
class Credit:
    """An arm's record: how many of its trials were scored, their summed score, and the posterior mean."""

    scored: int = 0
    total: float = 0.0

    @property
    def value(self) -> float:
        return (1.0 + self.total) / (2.0 + self.scored)

    def add(self, score: float) -> Credit:
        return Credit(self.scored + 1, self.total + score)

    def describe(self) -> str:
        return f"{self.value:.2f} over {self.scored} scored trial{'s' * (self.scored != 1)}"


@dataclass(frozen=True)
class Decision:
    arm: str  # CREATOR or MODEL
    reason: str


def arm_of(trial: TrialRecord) -> str | None:
    if trial.source in CREATOR_SOURCES:
        return CREATOR
    if trial.source in MODEL_SOURCES:
        return MODEL
    return None


def credits(history: Sequence[TrialRecord], objective: Objective) -> tuple[dict[str, Credit], dict[str, int]]:
    """Each arm's credit, and how many of its trials ended with a result (finished or pruned; scored or not:
    the first trial is not). A pruned trial lost to the median of the finished trials at its step, so it is
    scored PRUNED_SCORE, the middle of the lower half."""
    scored: dict[str, list[tuple[int, float]]] = {CREATOR: [], MODEL: []}
    finished = {CREATOR: 0, MODEL: 0}
    done = sorted((t for t in history if t.finished), key=lambda t: t.number)
    values = [float(t.value) for t in done]  # type: ignore[arg-type]
    for i, trial in enumerate(done):
        arm = arm_of(trial)
        if arm is None:
            continue
        finished[arm] += 1
        against = values[:i] if i else values[1:2]
        if against:
            scored[arm].append((trial.number, _score(objective, values[i], against)))
    for trial in history:
        arm = arm_of(trial)
        if trial.state == TrialState.PRUNED and arm is not None:
            finished[arm] += 1
            scored[arm].append((trial.number, PRUNED_SCORE))
    credit = {arm: Credit(len(kept), sum(kept)) for arm, kept in
              ((arm, [score for _, score in sorted(own)][-CREDIT_WINDOW:]) for arm, own in scored.items())}
    return credit, finished


def _score(objective: Objective, value: float, against: Sequence[float]) -> float:
    """The share of `against` that `value` beats, ties counting half."""
    beaten = sum(objective.better(value, other) for other in against)
    return (beaten + 0.5 * sum(value == other for other in against)) / len(against)


def stalled(history: Sequence[TrialRecord], objective: Objective, arm: str) -> bool:
    """True when the last STALL_TRIALS finished trials were all `arm`'s and none improved the best."""
    done = sorted((t for t in history if t.finished), key=lambda t: t.number)
    if len(done) <= STALL_TRIALS:
        return False
    best = objective.best_of([float(t.value) for t in done[:-STALL_TRIALS]])  # type: ignore[arg-type]
    tail = done[-STALL_TRIALS:]
    return all(arm_of(t) == arm and not objective.better(float(t.value), best) for t in tail)  # type: ignore[arg-type]


def decide(history: Sequence[TrialRecord], objective: Objective) -> Decision:
    """Which arm proposes the next trial, and why (the rule above)."""
    credit, finished = credits(history, objective)
    said = f"credit: Creator {credit[CREATOR].describe()}, model {credit[MODEL].describe()}"
    if not finished[CREATOR] and not finished[MODEL]:
        return Decision(CREATOR, "the Creator's pick: no trial of either side has finished, and a good Creator's "
                                 "first pick is where it gains most")
    for arm, other in ((CREATOR, MODEL), (MODEL, CREATOR)):
        if finished[arm] and not finished[other]:
            return Decision(other, f"the {other}'s pick: each side is tried once before their results decide "
                                   f"(the {arm} has {finished[arm]} finished trial{'s' * (finished[arm] != 1)}, "
                                   f"the {other} none)")
    trusted = CREATOR if credit[CREATOR].value >= credit[MODEL].value else MODEL
    other = MODEL if trusted == CREATOR else CREATOR
    if stalled(history, objective, trusted) and (other == MODEL or credit[other].value > STALL_FLOOR):
        return Decision(other, f"the {other}'s pick: the {trusted}'s last {STALL_TRIALS} trials did not improve "
                               f"the best, so the {other} gets one trial ({said})")
    higher = credit[trusted].value > credit[other].value
    why = "its credit is the higher" if higher else "the credits are equal, and ties go to the Creator"
    return Decision(trusted, f"the {trusted}'s pick: {why} ({said})")
