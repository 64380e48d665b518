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
PRUNED_RUNGS = "agenthpo.pruned_rungs"  # asha: the rungs it competed at, the last being the one it failed
ANALYSIS = "agenthpo.analysis"
REPAIR = "agenthpo.repair"
LLM_QUALITY = "agenthpo.llm_quality"  # 'ok', or 'flagged: <part>: <problem>' for LLM words set aside
STOPPED = "agenthpo.stopped"
DATA_CONTRACT = "agenthpo.data_contract"
DATA_FINGERPRINT = "agenthpo.data_fingerprint"
# Generations (agenthpo.generations): on a trial, the one it trained in; on the study run, the current one and
# the fingerprint of its data (every generation's start is the study run's `generations.json` artifact).
GENERATION = "agenthpo.generation"
GENERATION_FINGERPRINT = "agenthpo.generation_fingerprint"
BENCHMARK = "agenthpo.benchmark"
BENCHMARK_RUN_ID = "agenthpo.benchmark_run_id"
BENCHMARK_SPEC = "agenthpo.benchmark.spec"
BENCHMARK_REPEAT = "agenthpo.benchmark.repeat"
BENCHMARK_SEED = "agenthpo.benchmark.seed"
# The values of ROLE.
ROLE_STUDY, ROLE_TRIAL, ROLE_BENCHMARK = "study", "trial", "benchmark"

# -- metrics ----------------------------------------------------------------------------------------
# Grouped by prefix, so that MLflow's chart sections keep them apart: a trial's curves and final scores carry
# no prefix and come first; `time/`, `llm/`, `study/` and `pruner/` each get a section of their own.
TRAIN_SECONDS = "time/train_seconds"
TRAIN_SECONDS_TOTAL = "time/train_seconds_total"
TRIALS_FINISHED = "study/trials_finished"
TRIALS_FAILED = "study/trials_failed"
TRIALS_PRUNED = "study/trials_pruned"
BEST_TRIAL = "study/best_trial"
BENCH_WALL_SECONDS = "time/bench_wall_seconds"
PRUNER_READS = "pruner/reads"  # how many times the training step read the other trials' curves
# One `agenthpo tune` session's time, logged on the study run at step = session number.
SESSION_WALL_SECONDS = "time/session_wall_seconds"
SESSION_TRAIN_SECONDS = "time/session_train_seconds"
SESSION_LLM_SECONDS = "time/session_llm_seconds"
SESSION_ORCHESTRATION_SECONDS = "time/session_orchestration_seconds"
SESSION_TRIALS = "study/session_trials"
LLM_PROMPT_TOKENS_TOTAL = "llm/prompt_tokens_total"
LLM_COMPLETION_TOKENS_TOTAL = "llm/completion_tokens_total"
LLM_TOKENS_TOTAL = "llm/tokens_total"
LLM_CALLS_TOTAL = "llm/calls_total"
LLM_SECONDS_TOTAL = "llm/seconds_total"
LLM_SECONDS_PER_TRIAL = "llm/seconds_per_trial"
LLM_COST_USD = "llm/cost_usd"
CREATOR_REPAIRED_SHARE = "llm/creator_repaired_share"
CREATOR_FALLBACK_SHARE = "llm/creator_fallback_share"

# An LLM call's usage is logged per role on the trial run as `llm/<role>_<kind>` (llm/creator_prompt_tokens).
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
    """`creator` + `prompt_tokens` -> `llm/creator_prompt_tokens`."""
    if role not in LLM_ROLES or kind not in USAGE_KINDS:
        raise ValueError(f"no usage metric for role={role!r}, kind={kind!r}")
    return f"llm/{role}_{kind}"


def usage_total(metrics: Iterable[Mapping[str, float]], kind: str, roles: Iterable[str] = ("creator", "executor")
                ) -> float:
    """The sum of one usage kind over the trials' metrics, for the given roles."""
    names = [usage_metric(role, kind) for role in roles]
    return float(sum(m.get(name, 0.0) for m in metrics for name in names))


# Stores written before the names were grouped by prefix hold the same metrics unprefixed; reads map them.
_GROUPED = [TRAIN_SECONDS, TRAIN_SECONDS_TOTAL, TRIALS_FINISHED, TRIALS_FAILED, TRIALS_PRUNED, BEST_TRIAL,
            BENCH_WALL_SECONDS, SESSION_WALL_SECONDS, SESSION_TRAIN_SECONDS, SESSION_LLM_SECONDS,
            SESSION_ORCHESTRATION_SECONDS, SESSION_TRIALS, LLM_COST_USD, CREATOR_REPAIRED_SHARE,
            CREATOR_FALLBACK_SHARE] + [usage_metric(role, kind) for role in LLM_ROLES for kind in USAGE_KINDS]
LEGACY_METRICS = {**{name.split("/", 1)[1]: name for name in _GROUPED}, "pruner_reads": PRUNER_READS,
                  **{name.replace("llm/", "llm_", 1): name for name in (
                      LLM_PROMPT_TOKENS_TOTAL, LLM_COMPLETION_TOKENS_TOTAL, LLM_TOKENS_TOTAL, LLM_CALLS_TOTAL,
                      LLM_SECONDS_TOTAL, LLM_SECONDS_PER_TRIAL)}}


def current_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    """A run's metrics with the names an older store used mapped to today's; a value under today's name wins."""
    current = {LEGACY_METRICS.get(name, name): value for name, value in metrics.items() if name in LEGACY_METRICS}
    current.update({name: value for name, value in metrics.items() if name not in LEGACY_METRICS})
    return current


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
