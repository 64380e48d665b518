"""Study specifications: a YAML file that says what to tune, how, and where to record it.

Everything is validated before anything runs. Errors are FieldErrors: each value object raises paths
relative to itself, parse_spec puts the section in front (`space.lr.low`, `llm.temperature`) and
names the file once, so a user reads `<file>: <path>: <message>`.

The file is read strictly (agenthpo.yaml_strict: UTF-8, no key given twice, bounded anchors and nesting) and
every value is bounded (agenthpo.limits): a description of at most 20,000 characters, a spec of at most 64 KiB
as JSON (it travels to the pipeline's steps as one parameter), budgets of at most 100,000 trials.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agenthpo import limits
from agenthpo.cluster import ClusterOptions, parse_cluster
from agenthpo.errors import FieldError, did_you_mean, prefixed, reject_unknown
from agenthpo.generations import WarmStart
from agenthpo.llm.config import LLMConfig
from agenthpo.proposers import PROPOSERS, uses_llm
from agenthpo.pruning import PrunerSpec
from agenthpo.space import SearchSpace
from agenthpo.spec_paths import absolute_sqlite_uri, expand_env, resolve_path
from agenthpo.tasks import check_task
from agenthpo.trial import Objective
from agenthpo.yaml_strict import load_yaml

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
# The LLM Creator with a model-based safeguard (proposers/agent.py).
DEFAULT_PROPOSER = "agent"
# The study stops once this many trials have failed (Katib's maxFailedTrialCount).
DEFAULT_MAX_FAILED = 3
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_TOP_LEVEL = {"name", "task", "description", "data", "test_data", "objective", "space", "budget", "proposer", "seed",
              "tracking_uri", "experiment", "task_options", "llm", "start", "parallel", "cluster",
              "pruner", "warm_start"}
_BUDGET_FIELDS = ("trials", "max_failed_trials", "trial_timeout")
# What the pipeline passes every proposer itself: never a spec's option.
_PROPOSER_INTERNAL = {"self", "objective", "seed", "context", "client", "source"}


@dataclass(frozen=True)
class Budget:
    """How many trials to train, after how many failures to stop, and how long one trial may take.

    `trial_timeout` is in seconds (None: no limit); a trial past it is stopped and recorded as failed.

    Raises:
        FieldError: `trials` / `max_failed_trials` when not an integer in [1, 100,000]; `trial_timeout` when
            not a number in (0, 30 days].
    """

    trials: int
    max_failed_trials: int = DEFAULT_MAX_FAILED
    trial_timeout: float | None = None

    def __post_init__(self) -> None:
        for name in ("trials", "max_failed_trials"):
            limits.int_between(getattr(self, name), 1, limits.MAX_TRIALS, name, " (the most trials a study may have)")
        limits.check_timeout(self.trial_timeout, "trial_timeout")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Budget:
        reject_unknown(data, _BUDGET_FIELDS)
        return cls(data.get("trials"), data.get("max_failed_trials", DEFAULT_MAX_FAILED), data.get("trial_timeout"))

    def to_json(self) -> dict[str, Any]:
        return {"trials": self.trials, "max_failed_trials": self.max_failed_trials, "trial_timeout": self.trial_timeout}


@dataclass(frozen=True)
class ProposerSpec:
    name: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, **dict(self.options)}


@dataclass(frozen=True)
class StudySpec:
    name: str
    task: str
    description: str
    objective: Objective
    space: SearchSpace
    budget: Budget
    proposer: ProposerSpec
    seed: int = 0
    data: str | None = None
    # A separate test set (tables and texts): the data is then split into train and validation only.
    test_data: str | None = None
    tracking_uri: str = DEFAULT_TRACKING_URI
    experiment: str | None = None
    task_options: Mapping[str, Any] = field(default_factory=dict)
    llm: LLMConfig = field(default_factory=LLMConfig)
    # A configuration every proposer trains first (source "start"): a benchmark's common starting point.
    start: Mapping[str, Any] | None = None
    # Trials trained at once: each round the Creator proposes this many distinct configurations.
    parallel: int = 1
    # Where the pipeline's pods run on a Kubeflow cluster (agenthpo.cluster); None: submit and schedule use
    # the defaults, and a compiled pipeline has no Kubernetes options.
    cluster: ClusterOptions | None = None
    # Early stopping while a trial trains (agenthpo.pruning): none, median or asha.
    pruner: PrunerSpec = field(default_factory=PrunerSpec)
    # What a new data generation (or, with `study`, a new study) trains first (agenthpo.generations).
    warm_start: WarmStart = field(default_factory=WarmStart)

    @property
    def uses_llm(self) -> bool:
        """The Creator is an LLM; then the Executor's and the final analysis use it too."""
        return uses_llm(self.proposer.name)

    @property
    def experiment_name(self) -> str:
        return self.experiment or self.name

    def with_overrides(self, *, trials: int | None = None, proposer: str | None = None,
                       tracking_uri: str | None = None, llm_base_url: str | None = None,
                       llm_model: str | None = None, pruner: str | None = None) -> StudySpec:
        """The spec with CLI overrides applied, validated like the file itself."""
        data = self.to_json()
        if trials is not None:
            data["budget"]["trials"] = trials
            data["parallel"] = min(data["parallel"], trials)  # a smaller budget makes smaller rounds
        if proposer is not None:
            data["proposer"] = {"name": proposer}
        if tracking_uri is not None:
            data["tracking_uri"] = tracking_uri
        if llm_base_url is not None:
            data["llm"]["base_url"] = llm_base_url
        if llm_model is not None:
            data["llm"]["model"] = llm_model
        if pruner is not None and pruner != self.pruner.name:
            data["pruner"] = {"name": pruner}
        return parse_spec(data, base_dir=None, source="command line")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "task": self.task,
            "description": self.description,
            "data": self.data,
            "test_data": self.test_data,
            "objective": self.objective.to_json(),
            "space": self.space.to_json(),
            "budget": self.budget.to_json(),
            "proposer": self.proposer.to_json(),
            "seed": self.seed,
            "tracking_uri": self.tracking_uri,
            "experiment": self.experiment,
            "task_options": dict(self.task_options),
            "llm": self.llm.to_json(),
            "start": None if self.start is None else dict(self.start),
            "parallel": self.parallel,
            "cluster": None if self.cluster is None else self.cluster.to_json(),
            "pruner": self.pruner.to_json(),
            "warm_start": self.warm_start.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StudySpec:
        return parse_spec(data, base_dir=None)

    def replace(self, **changes: Any) -> StudySpec:
        return replace(self, **changes)


def load_spec(path: str | os.PathLike[str]) -> StudySpec:
    """Read and validate a YAML spec; relative data paths are taken from the spec's folder.

    Raises:
        FieldError: `<file>: <path>: <message>`, the path from the spec's top ('' for the file itself).
    """
    path = Path(path)
    with prefixed("", str(path)):
        data = load_yaml(path)
    return parse_spec(data, base_dir=path.resolve().parent, source=str(path))


def parse_spec(data: Any, base_dir: Path | None, source: str = "") -> StudySpec:
    """The spec from its JSON/YAML mapping; `source` (a file name, 'command line') is named in any error.

    Raises:
        FieldError: the field's path from the spec's top (`budget.trials`, `space.lr.low`, `start.lr`).
    """
    with prefixed("", source):
        return _parse(data, base_dir)


def _parse(data: Any, base_dir: Path | None) -> StudySpec:
    if not isinstance(data, Mapping):
        raise FieldError("", f"expected a mapping at the top level (name, task, objective, space, budget, ...), "
                             f"got {str(data)[:200]!r}")
    reject_unknown(data, _TOP_LEVEL)

    name = _required(data, "name", str)
    if not _NAME.match(name):
        raise FieldError("name", f"{name!r} must be 1-128 letters, digits, '.', '_' or '-'")
    task = _required(data, "task", str)
    # Optional: absent, null and '' (as to_json writes an absent one) are the same.
    description = "" if data.get("description") == "" else _optional(data, "description", str, default="")
    if len(description) > limits.MAX_DESCRIPTION_CHARS:
        raise FieldError("description", f"is {len(description):,} characters; at most {limits.MAX_DESCRIPTION_CHARS:,}"
                                        f": keep the background the Creator needs (the task, the data, what matters)")

    objective_data = _required(data, "objective", Mapping)
    with prefixed("objective"):
        reject_unknown(objective_data, {"metric", "direction"})
        objective = Objective(objective_data.get("metric"), objective_data.get("direction", "maximize"))
    space_data = _required(data, "space", Mapping)
    with prefixed("space"):
        space = SearchSpace.from_json(space_data)
    budget_data = _required(data, "budget", Mapping)
    with prefixed("budget"):
        budget = Budget.from_json(budget_data)

    with prefixed("proposer"):
        proposer = _proposer(data.get("proposer", DEFAULT_PROPOSER), objective)

    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise FieldError("seed", f"{seed!r} must be a non-negative integer")
    limits.int_between(seed, 0, limits.MAX_SEED, "seed", " (2**32 - 1, what every generator takes)")

    data_path = _optional(data, "data", str, default=None)
    if data_path is not None:
        data_path = resolve_path(expand_env(data_path, "data"), base_dir)
    test_path = _optional(data, "test_data", str, default=None)
    if test_path is not None:
        test_path = resolve_path(expand_env(test_path, "test_data"), base_dir)
    tracking_uri = expand_env(_optional(data, "tracking_uri", str, default=DEFAULT_TRACKING_URI), "tracking_uri")
    experiment = _optional(data, "experiment", str, default=None)
    task_options = _optional(data, "task_options", Mapping, default={}) or {}
    # The plug-in's declared options and metrics: a typo or an unreported metric fails here, not in every trial.
    check_task(task, task_options, objective.metric, space, test_data=test_path)
    llm_data = _optional(data, "llm", Mapping, default={}) or {}
    with prefixed("llm"):
        llm = LLMConfig.from_json(llm_data)
        if llm.base_url is not None:
            llm = replace(llm, base_url=expand_env(llm.base_url, "base_url"))

    start_data = _optional(data, "start", Mapping, default=None)
    with prefixed("start"):
        start = None if start_data is None else _start_config(start_data, space)
    parallel = int_at_least(data.get("parallel", 1), 1, "parallel")
    if parallel > budget.trials:
        raise FieldError("parallel", f"{parallel!r} is more than budget.trials={budget.trials}: a round would "
                                     f"train nothing new")
    with prefixed("cluster"):
        cluster = parse_cluster(data.get("cluster"))
    with prefixed("pruner"):
        pruner = PrunerSpec.from_json(data.get("pruner"))
    with prefixed("warm_start"):
        warm_start = WarmStart.from_json(data.get("warm_start"))
        if warm_start.study == name:
            raise FieldError("study", f"{name!r} is this study: name another study to start from")

    spec = StudySpec(
        name=name, task=task, description=description, objective=objective, space=space,
        budget=budget, proposer=proposer, seed=seed, data=data_path, test_data=test_path,
        tracking_uri=absolute_sqlite_uri(tracking_uri), experiment=experiment,
        task_options=dict(task_options), llm=llm, start=start, parallel=parallel, cluster=cluster,
        pruner=pruner, warm_start=warm_start,
    )
    limits.check_spec_size(spec.to_json())
    return spec


def _proposer(data: Any, objective: Objective) -> ProposerSpec:
    """The proposer and its options, checked by building it (cheap: no LLM is called); paths relative to it."""
    if isinstance(data, str):
        proposer = ProposerSpec(data)
    elif isinstance(data, Mapping) and isinstance(data.get("name"), str):
        proposer = ProposerSpec(data["name"], {str(k): v for k, v in data.items() if k != "name"})
    else:
        raise FieldError("", f"{data!r} must be a name or a mapping with 'name'")
    if proposer.name not in PROPOSERS:
        raise FieldError("", f"{proposer.name!r} is not one of {sorted(PROPOSERS)}"
                             f"{did_you_mean(proposer.name, PROPOSERS)}")
    factory = PROPOSERS[proposer.name]
    allowed = set(inspect.signature(factory).parameters) - _PROPOSER_INTERNAL
    reject_unknown(proposer.options, allowed | {"name"})
    try:
        factory(objective, 0, None, **proposer.options)
    except (TypeError, ValueError) as exc:
        raise FieldError("", f"{proposer.to_json()!r}: {exc}") from None
    return proposer


def _start_config(start: Mapping[str, Any], space: SearchSpace) -> dict[str, Any]:
    """The `start` configuration, complete and inside the space; paths are the parameter's name."""
    for name in start:
        if name not in space.names:
            raise FieldError(str(name), f"unknown parameter{did_you_mean(name, space.names)} (the space has "
                                        f"{space.names})")
    missing = [name for name in space.names if name not in start]
    if missing:
        raise FieldError("", f"{dict(start)!r} lacks {missing}: a start configuration sets every parameter")
    return space.validate(start)


def _required(data: Mapping[str, Any], key: str, kind: type) -> Any:
    if key not in data or data[key] is None:
        raise FieldError(key, "is required")
    return _typed(data[key], key, kind)


def _optional(data: Mapping[str, Any], key: str, kind: type, default: Any) -> Any:
    if key not in data or data[key] is None:
        return default
    return _typed(data[key], key, kind)


def _typed(value: Any, key: str, kind: type) -> Any:
    if not isinstance(value, kind):
        expected = "a mapping" if kind is Mapping else f"a {kind.__name__}"
        raise FieldError(key, f"{value!r} must be {expected}")
    if kind is str and not value.strip():
        raise FieldError(key, f"{value!r} must not be empty")
    return value


def int_at_least(value: Any, minimum: int, field_path: str) -> int:
    """`value` when it is an integer >= minimum, else FieldError(field_path)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise FieldError(field_path, f"{value!r} must be an integer >= {minimum}")
    return value
