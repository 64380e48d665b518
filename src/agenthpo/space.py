"""Search spaces: typed parameters that validate themselves, sample, and serialise.

The four kinds are those of the AgentHPO paper's Table 2: floats and integers (optionally on a
log scale), unordered categorical choices and ordered (ordinal) choices.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

Scalar = bool | int | float | str


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Range:
    """What float and int parameters share: bounds, an optional log scale, and their serialisations."""

    name: str
    low: float
    high: float
    log: bool
    kind: ClassVar[str]
    _schema_type: ClassVar[str]
    _label: ClassVar[str]

    def to_unit(self, value: float) -> float:
        """Position in [0, 1] on the parameter's own scale (log where log=True)."""
        if self.high == self.low:
            return 0.5
        if self.log:
            return (math.log(value) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (value - self.low) / (self.high - self.low)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, "low": self.low, "high": self.high, "log": self.log}

    def json_schema(self) -> dict[str, Any]:
        return {"type": self._schema_type, "minimum": self.low, "maximum": self.high}

    def describe(self) -> str:
        scale = ", log scale" if self.log else ""
        return f"{self._label} in [{self.low}, {self.high}]{scale}"


@dataclass(frozen=True)
class FloatParam(_Range):
    name: str
    low: float
    high: float
    log: bool = False
    kind: ClassVar[str] = "float"
    _schema_type: ClassVar[str] = "number"
    _label: ClassVar[str] = "float"

    def __post_init__(self) -> None:
        _check_range(self.name, self.low, self.high, self.log)

    def validate(self, value: Any) -> float:
        if not _is_number(value) or math.isnan(float(value)):
            raise ValueError(f"{self.name}={value!r} is not a number")
        value = float(value)
        if not self.low <= value <= self.high:
            raise ValueError(f"{self.name}={value!r} outside [{self.low}, {self.high}]")
        return value

    def sample(self, rng: np.random.Generator) -> float:
        if self.log:
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))



@dataclass(frozen=True)
class IntParam(_Range):
    name: str
    low: int
    high: int
    log: bool = False
    kind: ClassVar[str] = "int"
    _schema_type: ClassVar[str] = "integer"
    _label: ClassVar[str] = "integer"

    def __post_init__(self) -> None:
        for bound, label in ((self.low, "low"), (self.high, "high")):
            if not isinstance(bound, int) or isinstance(bound, bool):
                raise ValueError(f"{self.name}: {label}={bound!r} must be an integer")
        _check_range(self.name, self.low, self.high, self.log)

    def validate(self, value: Any) -> int:
        # 3.0 from a JSON decoder or an LLM is an integer; 3.5 is not.
        if not _is_number(value) or not float(value).is_integer():
            raise ValueError(f"{self.name}={value!r} is not an integer")
        value = int(value)
        if not self.low <= value <= self.high:
            raise ValueError(f"{self.name}={value!r} outside [{self.low}, {self.high}]")
        return value

    def sample(self, rng: np.random.Generator) -> int:
        if self.log:
            # Uniform in log over [low, high + 1) then floored: every integer keeps mass.
            raw = math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))
            return int(min(max(math.floor(raw), self.low), self.high))
        return int(rng.integers(self.low, self.high + 1))



@dataclass(frozen=True)
class CategoricalParam:
    name: str
    choices: tuple[Scalar, ...]
    kind: ClassVar[str] = "categorical"

    def __post_init__(self) -> None:
        object.__setattr__(self, "choices", tuple(self.choices))
        _check_choices(self.name, self.choices)

    def validate(self, value: Any) -> Scalar:
        for choice in self.choices:
            if _same_choice(choice, value):
                return choice
        raise ValueError(f"{self.name}={value!r} not one of {list(self.choices)}")

    def sample(self, rng: np.random.Generator) -> Scalar:
        return self.choices[int(rng.integers(len(self.choices)))]

    def index(self, value: Scalar) -> int:
        return next(i for i, c in enumerate(self.choices) if _same_choice(c, value))

    def to_unit(self, value: Scalar) -> float:
        return self.index(value) / max(len(self.choices) - 1, 1)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, "choices": list(self.choices)}

    def json_schema(self) -> dict[str, Any]:
        return {"enum": list(self.choices)}

    def describe(self) -> str:
        return f"one of {list(self.choices)} (unordered)"


@dataclass(frozen=True)
class OrdinalParam(CategoricalParam):
    """Choices with a meaningful order (e.g. batch sizes); proposers may exploit the order."""

    kind: ClassVar[str] = "ordinal"

    def describe(self) -> str:
        return f"one of {list(self.choices)} (ordered)"


Param = FloatParam | IntParam | CategoricalParam | OrdinalParam
_KINDS: dict[str, type] = {"float": FloatParam, "int": IntParam, "categorical": CategoricalParam,
                           "ordinal": OrdinalParam}


def _check_range(name: str, low: float, high: float, log: bool) -> None:
    for bound, label in ((low, "low"), (high, "high")):
        if not _is_number(bound) or not math.isfinite(bound):
            raise ValueError(f"{name}: {label}={bound!r} must be a finite number")
    if low > high:
        raise ValueError(f"{name}: low={low!r} is greater than high={high!r}")
    if log and low <= 0:
        raise ValueError(f"{name}: low={low!r} must be > 0 on a log scale")


def _check_choices(name: str, choices: tuple[Any, ...]) -> None:
    if not choices:
        raise ValueError(f"{name}: choices=[] must name at least one value")
    for choice in choices:
        if not isinstance(choice, bool | int | float | str):
            raise ValueError(f"{name}: choice {choice!r} must be a string, number or boolean")
    seen: list[Any] = []
    for choice in choices:
        if any(_same_choice(s, choice) for s in seen):
            raise ValueError(f"{name}: choice {choice!r} is listed twice")
        seen.append(choice)


def _same_choice(a: Any, b: Any) -> bool:
    # True == 1 in Python; a space with [1, True] or a proposal of 1 for [True] must not be confused.
    return type(a) is type(b) and a == b or (_is_number(a) and _is_number(b) and a == b)


def param_from_json(name: str, data: Mapping[str, Any]) -> Param:
    if not isinstance(data, Mapping):
        raise ValueError(f"{name}: expected a mapping with 'type', got {data!r}")
    kind = data.get("type")
    if kind not in _KINDS:
        raise ValueError(f"{name}: type={kind!r} is not one of {sorted(_KINDS)}")
    allowed = {"type", "low", "high", "log"} if kind in ("float", "int") else {"type", "choices"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(f"{name}: unknown key(s) {unknown} for type {kind!r}; allowed: {sorted(allowed)}")
    if kind in ("float", "int"):
        missing = [k for k in ("low", "high") if k not in data]
        if missing:
            raise ValueError(f"{name}: missing {missing} for type {kind!r}")
        log = data.get("log", False)
        if not isinstance(log, bool):
            raise ValueError(f"{name}: log={log!r} must be true or false")
        low, high = data["low"], data["high"]
        if kind == "float":
            for bound, label in ((low, "low"), (high, "high")):
                if not _is_number(bound):
                    raise ValueError(f"{name}: {label}={bound!r} must be a number")
            return FloatParam(name, float(low), float(high), log)
        return IntParam(name, low, high, log)
    choices = data.get("choices")
    if not isinstance(choices, list | tuple):
        raise ValueError(f"{name}: choices={choices!r} must be a list")
    return _KINDS[kind](name, tuple(choices))


class SearchSpace(Sequence[Param]):
    """An ordered collection of named parameters."""

    def __init__(self, params: Sequence[Param]):
        names = [p.name for p in params]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"parameter name(s) {duplicates} appear more than once")
        if not params:
            raise ValueError("a search space needs at least one parameter")
        self._params = tuple(params)
        self._by_name = {p.name: p for p in params}

    def __getitem__(self, index):  # type: ignore[override]
        return self._params[index]

    def __len__(self) -> int:
        return len(self._params)

    def __iter__(self) -> Iterator[Param]:
        return iter(self._params)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self._params == other._params

    def __repr__(self) -> str:
        return f"SearchSpace({list(self._params)!r})"

    @property
    def names(self) -> list[str]:
        return [p.name for p in self._params]

    def param(self, name: str) -> Param:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no parameter {name!r}; the space has {self.names}") from None

    def validate(self, config: Mapping[str, Any]) -> dict[str, Scalar]:
        """Return the config with values coerced to each parameter's type, or raise naming the field."""
        if not isinstance(config, Mapping):
            raise ValueError(f"a configuration must be a mapping, got {config!r}")
        missing = [n for n in self.names if n not in config]
        extra = sorted(set(config) - set(self.names))
        if missing:
            raise ValueError(f"configuration is missing {missing}")
        if extra:
            raise ValueError(f"configuration has unknown parameter(s) {extra}; the space has {self.names}")
        return {p.name: p.validate(config[p.name]) for p in self._params}

    def sample(self, rng: np.random.Generator) -> dict[str, Scalar]:
        return {p.name: p.sample(rng) for p in self._params}

    def key(self, config: Mapping[str, Any]) -> tuple:
        """A hashable identity for duplicate detection (floats compared to 12 significant digits)."""
        return tuple(
            float(f"{config[p.name]:.12g}") if isinstance(p, FloatParam) else config[p.name]
            for p in self._params
        )

    def to_json(self) -> dict[str, dict[str, Any]]:
        return {p.name: p.to_json() for p in self._params}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SearchSpace:
        if not isinstance(data, Mapping) or not data:
            raise ValueError(f"a search space must be a non-empty mapping of name -> parameter, got {data!r}")
        return cls([param_from_json(str(name), spec) for name, spec in data.items()])

    def json_schema(self) -> dict[str, Any]:
        """JSON Schema of one configuration, as used for an LLM's structured output."""
        return {
            "type": "object",
            "properties": {p.name: p.json_schema() for p in self._params},
            "required": self.names,
            "additionalProperties": False,
        }

    def describe(self) -> str:
        return "\n".join(f"- {p.name}: {p.describe()}" for p in self._params)
