"""The benchmark: a suite of specs x proposers x repeats, aggregated in the AgentHPO paper's Table 3 form.

Every (spec, proposer, repeat) is its own study `<suite>.<spec>.<proposer>.r<k>`, run through the same
study steps as `tune` (in this process by default: the KFP local runner costs seconds of start-up
per step, which would make 100-trial baselines impossible). Fairness: every proposer of a repeat gets
the same spec (so the same data split), seed (suite seed + k), budget and start configuration;
`max_failed_trials` is the whole budget, so a failed trial costs one trial, as a bad guess does,
and never ends a study early. The best human is the best of `human_trials` random trials, one study
per spec with a fixed seed. A re-run skips ended studies and resumes the others (studies resume by
name), so a stopped benchmark picks up where it was. MLflow is reached only through
`agenthpo.tracking`.

- `suite`: the suite file and the studies it derives (`Suite`, `load_suite`, `parse_suite`);
- `run`: running the studies (`BenchmarkRun`, `run_study`, `outcome`, `StudyOutcome`);
- `results`: aggregation and results.md / results.json (`aggregate`, `Results`, `Cell`, `improvement`);
- `plots`: the trajectory plot per spec.
"""

from agenthpo.bench.results import Cell, Results, aggregate, improvement
from agenthpo.bench.run import ENGINES, BenchmarkRun, StudyOutcome, outcome, run_study
from agenthpo.bench.suite import (
    DEFAULT_HUMAN_TRIALS,
    HUMAN_SEED_OFFSET,
    MARKS,
    Suite,
    SuiteEntry,
    load_suite,
    parse_suite,
)

__all__ = [
    "DEFAULT_HUMAN_TRIALS", "ENGINES", "HUMAN_SEED_OFFSET", "MARKS", "BenchmarkRun", "Cell", "Results",
    "StudyOutcome", "Suite", "SuiteEntry", "aggregate", "improvement", "load_suite", "outcome",
    "parse_suite", "run_study",
]
