"""The `agent` proposer (the default): the LLM Creator with a model-based safeguard.

Each round the Creator proposes a few candidates (two per slot by default) and Optuna's TPE proposes one
per slot. Until a few trials have finished, the LLM's candidates are taken in the order it gave them:
that is where a good prior pays (the paper's big gains at trial 1). After that a Gaussian-process
surrogate fitted on the finished trials scores every candidate by expected improvement and the best
ones are trained, whichever proposer they came from. So a weak LLM loses to TPE on the surrogate's
judgement and costs little, a strong one keeps its lead, and a stalled LLM is overtaken by TPE.
"""

from __future__ import annotations

from collections.abc import Sequence

from agenthpo.proposers.base import ProposerContext, SpaceExhausted, check_n, tried_keys
from agenthpo.proposers.llm import LLMProposer, usage_metrics
from agenthpo.proposers.tpe import TPEProposer
from agenthpo.space import SearchSpace
from agenthpo.surrogate import MIN_TRIALS, expected_improvement
from agenthpo.trial import Objective, Proposal, TrialRecord


class AgentProposer:
    name = "agent"

    def __init__(self, objective: Objective, seed: int = 0, context: ProposerContext | None = None,
                 llm_candidates: int = 2, tpe_startup_trials: int = 5, client=None):
        if not isinstance(llm_candidates, int) or llm_candidates < 1:
            raise ValueError(f"llm_candidates={llm_candidates!r} must be an integer >= 1")
        self.objective = objective
        self.llm = LLMProposer(objective, seed, context, fallback_startup_trials=tpe_startup_trials, client=client)
        self.tpe = TPEProposer(objective, seed, n_startup_trials=tpe_startup_trials)
        self.llm_candidates = llm_candidates

    def propose(self, space: SearchSpace, history: Sequence[TrialRecord], n: int) -> list[Proposal]:
        check_n(n)
        taken = tried_keys(space, history)
        asked = max(n, self.llm_candidates) if sum(t.finished for t in history) >= MIN_TRIALS else n
        # A repair round only when fewer than n are usable: extra candidates are a bonus, not a must.
        result = self.llm.ask(space, history, asked, taken, needed=n)
        metrics = usage_metrics(result.usage, n)
        repair = "repaired" if result.repaired else "none"
        candidates = [Proposal(p, "llm", r or "(no rationale given)", metrics=metrics, tags={"repair": repair})
                      for p, r in result.configs]
        try:
            candidates += self.tpe.propose(space, history, n, taken={*taken})
        except SpaceExhausted:
            if len(candidates) < n:
                raise  # neither the LLM nor TPE has anything untried left
        scores = expected_improvement(space, history, self.objective, [c.params for c in candidates])
        if scores is None:
            # Too little data for a surrogate: trust the LLM's order, TPE fills in if it failed.
            chosen = candidates[:n]
            verdict = "taken in the Creator's order (too few finished trials for the surrogate)"
            ranked = [(c, None) for c in chosen]
        else:
            ranked = sorted(zip(candidates, scores, strict=True), key=lambda cs: -cs[1])[:n]
            verdict = (f"chosen by expected improvement among {len(result.configs)} LLM and "
                       f"{len(candidates) - len(result.configs)} TPE candidates")
        problems = result.error or "; ".join(result.problems)
        chosen_proposals = []
        for candidate, score in ranked:
            ei = f" (EI {score:.3g})" if score is not None else ""
            tags = {"repair": repair, "agent": verdict, "llm_problems": problems[:2000] or "-"}
            source = candidate.source
            if source == "tpe" and not result.configs:
                source, tags["repair"] = "fallback", "fallback"  # the LLM gave nothing usable
            chosen_proposals.append(Proposal(candidate.params, source,
                                             f"{candidate.rationale} [{verdict}{ei}]", metrics=metrics, tags=tags))
        return chosen_proposals
