"""Every MLflow tag and metric name the project writes or reads, in one place.

Tracking writes them, the study, the CLI and the benchmark read them; a rename happens here only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# -- MLflow's own tags ------------------------------------------------------------------------------
NOTE = "mlflow.note.content"  # the run's description in the MLflow UI: the Executor's analysis, the report
PARENT = "mlflow.parentRunId"  # a trial run's study run

# -- agenthpo tags ----------------------------------------------------------------------------------
ROLE = "agenthpo.role"  # study, trial or benchmark
STUDY = "agenthpo.study"
TASK = "agenthpo.task"
PROPOSER = "agenthpo.proposer"
BUDGET_TRIALS = "agenthpo.budget.trials"
OBJECTIVE = "agenthpo.objective"
TRIAL = "agenthpo.trial"  # the trial's number in its study
SOURCE = "agenthpo.source"  # which proposer made the configuration
PARAMS = "agenthpo.params"  # the configuration as typed JSON (MLflow params are strings)
STATE = "agenthpo.state"
RATIONALE = "agenthpo.rationale"
VALUE = "agenthpo.value"
ERROR = "agenthpo.error"
PRUNER = "agenthpo.pruner"  # the study's early-stopping rule: none, median or asha
PRUNED = "agenthpo.pruned"  # 'true' on a trial its pruner stopped early (state PRUNED)
PRUNED_STEP = "agenthpo.pruned_step"  # the step it stopped at
PRUNED_REASON = "agenthpo.pruned_reason"  # why, in the pruner's words
PRUNER_READS = "pruner_reads"  # metric: how many times the training step read the other trials' curves
ANALYSIS = "agenthpo.analysis"
REPAIR = "agenthpo.repair"
LLM_QUALITY = "agenthpo.llm_quality"  # 'ok', or 'flagged: <part>: <problem>' for LLM words set aside
STOPPED = "agenthpo.stopped"
DATA_CONTRACT = "agenthpo.data_contract"
DATA_FINGERPRINT = "agenthpo.data_fingerprint"
BENCHMARK = "agenthpo.benchmark"
BENCHMARK_RUN_ID = "agenthpo.benchmark_run_id"
BENCHMARK_SPEC = "agenthpo.benchmark.spec"
BENCHMARK_REPEAT = "agenthpo.benchmark.repeat"
BENCHMARK_SEED = "agenthpo.benchmark.seed"
# The values of ROLE.
ROLE_STUDY, ROLE_TRIAL, ROLE_BENCHMARK = "study", "trial", "benchmark"

# -- metrics ----------------------------------------------------------------------------------------
TRAIN_SECONDS = "train_seconds"
TRAIN_SECONDS_TOTAL = "train_seconds_total"
TRIALS_FINISHED = "trials_finished"
TRIALS_FAILED = "trials_failed"
TRIALS_PRUNED = "trials_pruned"
BEST_TRIAL = "best_trial"
BENCH_WALL_SECONDS = "bench_wall_seconds"
# One `agenthpo tune` session's time, logged on the study run.
SESSION_WALL_SECONDS = "session_wall_seconds"
SESSION_TRAIN_SECONDS = "session_train_seconds"
SESSION_LLM_SECONDS = "session_llm_seconds"
SESSION_ORCHESTRATION_SECONDS = "session_orchestration_seconds"
SESSION_TRIALS = "session_trials"
LLM_PROMPT_TOKENS_TOTAL = "llm_prompt_tokens_total"
LLM_COMPLETION_TOKENS_TOTAL = "llm_completion_tokens_total"
LLM_TOKENS_TOTAL = "llm_tokens_total"
LLM_CALLS_TOTAL = "llm_calls_total"
LLM_SECONDS_TOTAL = "llm_seconds_total"
LLM_SECONDS_PER_TRIAL = "llm_seconds_per_trial"
LLM_COST_USD = "llm_cost_usd"
CREATOR_REPAIRED_SHARE = "creator_repaired_share"
CREATOR_FALLBACK_SHARE = "creator_fallback_share"

# An LLM call's usage is logged per role on the trial run as `<role>_<kind>` (creator_prompt_tokens).
LLM_ROLES = ("creator", "executor", "final")
LLM_CALLS, PROMPT_TOKENS, COMPLETION_TOKENS, LLM_SECONDS = "llm_calls", "prompt_tokens", "completion_tokens", \
    "llm_seconds"
USAGE_KINDS = (LLM_CALLS, PROMPT_TOKENS, COMPLETION_TOKENS, LLM_SECONDS)


RUN_NAME = "mlflow.runName"
# MLflow 3 opens an experiment in its GenAI view unless told it holds model development.
EXPERIMENT_KIND, MODEL_DEVELOPMENT = "mlflow.experimentKind", "custom_model_development"
BEST = "agenthpo.best"  # "true" on the study's best trial (set by the report step)


def trial_run_name(number: int, source: str, outcome: str = "") -> str:
    """What the MLflow UI lists a trial as: `trial-003 tpe f1=0.7123` (outcome: the result, once there is one)."""
    return " ".join(part for part in (f"trial-{number:03d}", source, outcome) if part)


def trial_objective_metric(metric: str) -> str:
    """The study run's metric holding each trial's objective value at step = trial number (trial_f1)."""
    return f"trial_{metric}"


def best_metric(metric: str) -> str:
    """The study run's metric holding the best objective value (best_accuracy)."""
    return f"best_{metric}"


def usage_metric(role: str, kind: str) -> str:
    """`creator` + `prompt_tokens` -> `creator_prompt_tokens`."""
    if role not in LLM_ROLES or kind not in USAGE_KINDS:
        raise ValueError(f"no usage metric for role={role!r}, kind={kind!r}")
    return f"{role}_{kind}"


def usage_total(metrics: Iterable[Mapping[str, float]], kind: str, roles: Iterable[str] = ("creator", "executor")
                ) -> float:
    """The sum of one usage kind over the trials' metrics, for the given roles."""
    names = [usage_metric(role, kind) for role in roles]
    return float(sum(m.get(name, 0.0) for m in metrics for name in names))


# -- claims and heartbeats (agenthpo.slots, agenthpo.tracking.claims) --------------------------------
# Hidden experiments (created, then soft-deleted: the name stays reserved) under this prefix are the
# claims: `<prefix>/studies/...` a study's run, `<prefix>/claims/<study>/<n>` trial number n,
# `<prefix>/settled/<trial run>` the one state a trial ended in.
CLAIM_PREFIX = ".agenthpo"
CLAIM_RUN = "agenthpo.claim.run_id"  # the experiment tag naming the run that made the claim
CLAIM_STATE = "agenthpo.claim.state"  # the settled state, on a settlement
DRIVER = "agenthpo.driver"  # the driver (tune process, KFP run) that opened the trial
ROUND_KEY = "agenthpo.round_key"  # the Creator step (KFP run id / task name) that opened the trial
HEARTBEAT = "agenthpo.heartbeat"  # seconds since the epoch of the trial's last sign of life
HEARTBEAT_SECONDS = "agenthpo.heartbeat_seconds"  # the interval it beats at
TRAIN_ATTEMPTS = "agenthpo.train_attempts"  # training steps started on the trial (KFP retries)
LATE_VALUE = "agenthpo.late_value"  # a result that arrived after the trial was settled (not counted)
LATE_STATE = "agenthpo.late_state"  # FINISHED or FAILED: how that late attempt ended
