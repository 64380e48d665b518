"""Where a study's pipeline pods run on a Kubeflow cluster: the spec's optional `cluster:` section.

Only what the compiled pipeline or the run request needs: a GPU and node placement for training,
where the LLM key and other environment come from (Secrets and ConfigMaps, named, never a value),
the data volume, and the runs' service account. Each value object validates itself; errors name the
field path and the value: a FieldError whose path is relative to the object that raises it (`count`);
`ClusterOptions.from_json` gives paths relative to the section (`gpu.count`), and the spec adds `cluster.`
(`cluster.gpu.count: 0 must be an integer >= 1`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from agenthpo.cron import kfp_cron as kfp_cron  # re-exported: the CLI and older imports find it here
from agenthpo.errors import FieldError, did_you_mean, join_path, prefixed, reject_unknown

# `kubectl create secret generic agenthpo-llm --from-literal=OPENAI_API_KEY=...` is all a cluster needs.
DEFAULT_LLM_SECRET = "agenthpo-llm"
DEFAULT_ACCELERATOR = "nvidia.com/gpu"
OPERATORS = ("Equal", "Exists")
EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")

# Kubernetes' own rules, so that a bad name fails on load rather than as a pod that never starts.
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DATA_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_RESOURCE_NAME = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
# The forms KFP's setters accept (PipelineTask.set_cpu_limit, set_memory_limit).
_CPU = re.compile(r"^([0-9]*[.])?[0-9]+m?$")
_MEMORY = re.compile(r"^[0-9]+(E|Ei|P|Pi|T|Ti|G|Gi|M|Mi|K|Ki)?$")




def _check(ok: bool, path: str, message: str) -> None:
    if not ok:
        raise FieldError(path, message)


def _name(value: Any, path: str, pattern: re.Pattern[str] = _DNS_SUBDOMAIN, what: str = "a Kubernetes name "
          "(lower-case letters, digits, '-' and '.')") -> None:
    _check(isinstance(value, str) and len(value) <= 253 and bool(pattern.match(value)), path,
           f"{value!r} must be {what}")


@dataclass(frozen=True)
class Gpu:
    """Accelerators for each training step; `accelerator` is the resource name the nodes advertise."""

    count: int = 1
    accelerator: str = DEFAULT_ACCELERATOR

    def __post_init__(self) -> None:
        _check(isinstance(self.count, int) and not isinstance(self.count, bool) and self.count >= 1, "count",
               f"{self.count!r} must be an integer >= 1")
        _name(self.accelerator, "accelerator", _RESOURCE_NAME, "a resource name such as nvidia.com/gpu")

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "accelerator": self.accelerator}


@dataclass(frozen=True)
class Toleration:
    key: str | None = None
    operator: str = "Equal"
    value: str | None = None
    effect: str | None = None
    toleration_seconds: int | None = None

    def __post_init__(self) -> None:
        if self.key is not None:
            _check(isinstance(self.key, str) and bool(self.key), "key", f"{self.key!r} must be a non-empty string")
        _check(self.operator in OPERATORS, "operator",
               f"{self.operator!r} must be one of {list(OPERATORS)}{did_you_mean(self.operator, OPERATORS)}")
        _check(self.key is not None or self.operator == "Exists", "key",
               "is required unless operator is Exists (which then tolerates every taint)")
        if self.value is not None:
            _check(isinstance(self.value, str), "value", f"{self.value!r} must be a string (quote it)")
            _check(self.operator == "Equal", "value", f"{self.value!r} must be left out with operator Exists")
        _check(self.effect is None or self.effect in EFFECTS, "effect",
               f"{self.effect!r} must be one of {list(EFFECTS)}{did_you_mean(self.effect, EFFECTS)}")
        if self.toleration_seconds is not None:
            seconds = self.toleration_seconds
            _check(isinstance(seconds, int) and not isinstance(seconds, bool) and seconds >= 0,
                   "toleration_seconds", f"{seconds!r} must be an integer >= 0")
            # Kubernetes ignores it for any other effect: say so instead of silently dropping it.
            _check(self.effect == "NoExecute", "toleration_seconds", f"{seconds!r} needs effect NoExecute")

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in {"key": self.key, "operator": self.operator, "value": self.value,
                                  "effect": self.effect, "toleration_seconds": self.toleration_seconds}.items()
                if v is not None}


@dataclass(frozen=True)
class LlmSecret:
    """The Secret holding the LLM key; `key` None means the key named like the spec's llm.api_key_env."""

    name: str = DEFAULT_LLM_SECRET
    key: str | None = None
    optional: bool = False

    def __post_init__(self) -> None:
        _name(self.name, "name")
        if self.key is not None:
            _name(self.key, "key", _DATA_KEY, "a Secret key (letters, digits, '-', '_' and '.')")
        _check(isinstance(self.optional, bool), "optional", f"{self.optional!r} must be true or false")

    def key_for(self, api_key_env: str) -> str:
        return self.key or api_key_env

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "key": self.key, "optional": self.optional}


@dataclass(frozen=True)
class EnvFrom:
    """One environment variable of every step, from a ConfigMap or a Secret key (e.g. MLflow's S3 endpoint)."""

    source: str  # "config_map" | "secret"
    name: str
    key: str
    env: str | None = None  # None: the key's name
    optional: bool = False

    def __post_init__(self) -> None:
        _check(self.source in ("config_map", "secret"), "source", f"{self.source!r} must be config_map or secret")
        _name(self.name, self.source)
        _name(self.key, "key", _DATA_KEY, "a data key (letters, digits, '-', '_' and '.')")
        _check(_ENV_NAME.match(self.env_name) is not None, "env", f"{self.env_name!r} must be an environment "
               f"variable name (letters, digits and '_'; write env: when the key is not one)")
        _check(isinstance(self.optional, bool), "optional", f"{self.optional!r} must be true or false")

    @property
    def env_name(self) -> str:
        return self.env or self.key

    def to_json(self) -> dict[str, Any]:
        return {self.source: self.name, "key": self.key, "env": self.env, "optional": self.optional}


@dataclass(frozen=True)
class Resources:
    """CPU and memory for each training step, in Kubernetes quantities (KFP's setters check the same forms)."""

    cpu_request: str | None = None
    cpu_limit: str | None = None
    memory_request: str | None = None
    memory_limit: str | None = None

    def __post_init__(self) -> None:
        for name, pattern, example in (("cpu_request", _CPU, "2 or 500m"), ("cpu_limit", _CPU, "2 or 500m"),
                                       ("memory_request", _MEMORY, "8Gi"), ("memory_limit", _MEMORY, "8Gi")):
            value = getattr(self, name)
            _check(value is None or (isinstance(value, str) and pattern.match(value) is not None), name,
                   f"{value!r} must be a quantity such as {example}")

    def to_json(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class DataVolume:
    """A PersistentVolumeClaim with the data, mounted on the open-study and training steps."""

    claim: str
    mount_path: str
    sub_path: str = ""

    def __post_init__(self) -> None:
        _name(self.claim, "claim")
        _check(isinstance(self.mount_path, str) and self.mount_path.startswith("/"), "mount_path",
               f"{self.mount_path!r} must be an absolute path")
        _check(isinstance(self.sub_path, str) and not self.sub_path.startswith("/"), "sub_path",
               f"{self.sub_path!r} must be a relative path inside the volume")

    def to_json(self) -> dict[str, str]:
        return {"claim": self.claim, "mount_path": self.mount_path, "sub_path": self.sub_path}


@dataclass(frozen=True)
class ClusterOptions:
    """The spec's `cluster:` section; every field optional. A spec without one gets these defaults."""

    gpu: Gpu | None = None
    node_selector: Mapping[str, str] = field(default_factory=dict)  # training steps
    tolerations: tuple[Toleration, ...] = ()  # training steps
    resources: Resources = field(default_factory=Resources)  # training steps
    llm_secret: LlmSecret | None = field(default_factory=LlmSecret)  # None: no key (a keyless endpoint)
    env: tuple[EnvFrom, ...] = ()  # every step
    data_volume: DataVolume | None = None
    service_account: str | None = None  # a run-level setting: used by submit and schedule

    def __post_init__(self) -> None:
        for key, value in self.node_selector.items():
            prefix, _, label = str(key).rpartition("/")
            _check(isinstance(key, str) and (not prefix or bool(_DNS_SUBDOMAIN.match(prefix)))
                   and bool(_LABEL_NAME.match(label)), f"node_selector.{key}",
                   "is not a label key ([prefix/]name, the name at most 63 letters, digits, '-', '_' or '.')")
            _check(isinstance(value, str) and _LABEL_VALUE.match(value) is not None, f"node_selector.{key}",
                   f"{value!r} must be a label value (a string of at most 63 letters, digits, '-', '_' or '.'; "
                   f"quote numbers and booleans)")
        if self.service_account is not None:
            _name(self.service_account, "service_account")

    def to_json(self) -> dict[str, Any]:
        return {
            "gpu": None if self.gpu is None else self.gpu.to_json(),
            "node_selector": dict(self.node_selector),
            "tolerations": [t.to_json() for t in self.tolerations],
            "resources": self.resources.to_json(),
            "llm_secret": False if self.llm_secret is None else self.llm_secret.to_json(),
            "env": [e.to_json() for e in self.env],
            "data_volume": None if self.data_volume is None else self.data_volume.to_json(),
            "service_account": self.service_account,
        }

    @classmethod
    def from_json(cls, data: Any) -> ClusterOptions:
        """Parse the section.

        Raises:
            FieldError: the path relative to the section (`gpu.count`, `tolerations[0].effect`, `gpus` for an
                unknown field, with a 'did you mean'); `''` when the section is not a mapping.
        """
        data = _mapping(data, cls)
        gpu = data.get("gpu")
        if isinstance(gpu, int) and not isinstance(gpu, bool):
            gpu = {"count": gpu}  # `gpu: 1` is short for {count: 1}
        llm_secret = data.get("llm_secret")
        node_selector = _given(data, "node_selector", {})
        _check(isinstance(node_selector, Mapping), "node_selector", f"{node_selector!r} must be a mapping")
        return cls(
            gpu=None if gpu is None else _object(Gpu, gpu, "gpu"),
            node_selector=dict(node_selector),
            tolerations=tuple(_object(Toleration, t, f"tolerations[{i}]")
                              for i, t in enumerate(_list(_given(data, "tolerations", []), "tolerations"))),
            resources=_object(Resources, _quantities(_given(data, "resources", {})), "resources"),
            # `llm_secret: false` turns the key off (a keyless in-cluster endpoint); left out, the default Secret.
            llm_secret=None if llm_secret is False else _object(LlmSecret, llm_secret or {}, "llm_secret"),
            env=tuple(_env_from(e, f"env[{i}]") for i, e in enumerate(_list(_given(data, "env", []), "env"))),
            data_volume=None if data.get("data_volume") is None else _object(DataVolume, data["data_volume"],
                                                                             "data_volume"),
            service_account=data.get("service_account"),
        )


def parse_cluster(data: Any) -> ClusterOptions | None:
    """The spec's `cluster:` (None when absent); FieldError paths relative to the section, as from_json's."""
    return None if data is None else ClusterOptions.from_json(data)


def _mapping(value: Any, cls: type, path: str = "") -> Mapping[str, Any]:
    """`value` as the fields of dataclass `cls`: a mapping with no unknown field and every required one."""
    if not isinstance(value, Mapping):
        raise FieldError(path, f"{value!r} must be a mapping")
    reject_unknown(value, {f.name for f in fields(cls)}, path)
    for f in fields(cls):
        if f.default is MISSING and f.default_factory is MISSING and f.name not in value:
            raise FieldError(join_path(path, f.name), "is required")
    return value


def _object(cls: type, value: Any, path: str) -> Any:
    with prefixed(path):
        return cls(**_mapping(value, cls))


def _list(value: Any, path: str) -> list[Any]:
    _check(isinstance(value, list), path, f"{value!r} must be a list")
    return value


def _given(data: Mapping[str, Any], key: str, default: Any) -> Any:
    # `key:` with nothing after it reads as null in YAML: the same as leaving the key out.
    return default if data.get(key) is None else data[key]


def _quantities(data: Any) -> Any:
    # YAML reads `cpu_request: 2` as a number; Kubernetes quantities are strings.
    if not isinstance(data, Mapping):
        return data  # reported as not a mapping
    return {k: str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v for k, v in data.items()}


def _env_from(data: Any, path: str) -> EnvFrom:
    """One `env:` item: `{config_map | secret: name, key, env?, optional?}`."""
    with prefixed(path):
        if not isinstance(data, Mapping):
            raise FieldError("", f"{data!r} must be a mapping")
        reject_unknown(data, {"config_map", "secret", "key", "env", "optional"})
        data = dict(data)
        sources = [s for s in ("config_map", "secret") if s in data]
        _check(len(sources) == 1, "", f"{data!r} must name exactly one of config_map or secret")
        _check("key" in data, "key", "is required (the ConfigMap's or Secret's data key)")
        return EnvFrom(sources[0], data.pop(sources[0]), **data)
