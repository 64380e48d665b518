"""Search spaces: typed parameters that validate themselves, sample, and serialise.

The four kinds are those of the AgentHPO paper's Table 2: floats and integers (optionally on a
log scale), unordered categorical choices and ordered (ordinal) choices.

Every error is a `FieldError` (a ValueError) whose path is relative to the space: the parameter's
name (`lr`) or one of its fields (`lr.low`, `opt.choices[1]`); the spec parser adds `space.`.

Limits (agenthpo.limits: no bound may overflow a sampler): 1-100 parameters named as MLflow takes param keys
(1-250 ASCII letters, digits, '_-. /', no path tricks, no 'agenthpo' prefix); int bounds |x| < 2**63; float
bounds finite, |x| <= 1e15, low > 0 on a log scale; 1-1,000 choices, numbers so bounded, strings <= 250 chars.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from agenthpo.errors import FieldError, did_you_mean, reject_unknown
from agenthpo.limits import FLOAT_BOUND, MAX_CHOICE_CHARS, MAX_CHOICES, MAX_PARAMS, check_number, check_param_name

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

    def _inside(self, value: Any) -> Any:
        if not self.low <= value <= self.high:  # exact for any int, so none overflows a float here
            raise FieldError(self.name, f"{value!r} outside [{self.low}, {self.high}]; choose a value in that range")
        return value


@dataclass(frozen=True)
class FloatParam(_Range):
    """A real number in [low, high].

    Raises:
        FieldError: `<name>.low` / `<name>.high` for a bound that is not a finite number, low above high,
            or low <= 0 on a log scale; `<name>.log` when log is not a boolean.
    """

    name: str
    low: float
    high: float
    log: bool = False
    kind: ClassVar[str] = "float"
    _schema_type: ClassVar[str] = "number"
    _label: ClassVar[str] = "float"

    def __post_init__(self) -> None:
        _check_range(self.name, self.low, self.high, self.log, real=True)

    def validate(self, value: Any) -> float:
        """The value as a float; FieldError(`<name>`) when it is not a number inside [low, high]."""
        if not _is_number(value) or value != value:  # NaN
            raise FieldError(self.name, f"{value!r} is not a number; give one in [{self.low}, {self.high}]")
        return float(self._inside(value))

    def sample(self, rng: np.random.Generator) -> float:
        if self.log:
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))


@dataclass(frozen=True)
class IntParam(_Range):
    """An integer in [low, high].

    Raises:
        FieldError: as FloatParam, and `<name>.low` / `<name>.high` for a bound that is not an integer.
    """

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
                raise FieldError(f"{self.name}.{label}", f"{bound!r} must be an integer (use type: float for "
                                                         f"fractional values)")
        _check_range(self.name, self.low, self.high, self.log)

    def validate(self, value: Any) -> int:
        """The value as an int; FieldError(`<name>`) when it is not a whole number inside [low, high]."""
        # 3.0 from a JSON decoder or an LLM is an integer; 3.5 is not.
        if not _is_number(value) or isinstance(value, float) and not value.is_integer():
            raise FieldError(self.name, f"{value!r} is not an integer; give one in [{self.low}, {self.high}]")
        return self._inside(int(value))

    def sample(self, rng: np.random.Generator) -> int:
        if self.log:
            # Uniform in log over [low, high + 1) then floored: every integer keeps mass.
            raw = math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))
            return int(min(max(math.floor(raw), self.low), self.high))
        return int(rng.integers(self.low, self.high + 1))


@dataclass(frozen=True)
class CategoricalParam:
    """One of a list of distinct strings, numbers or booleans, unordered.

    Raises:
        FieldError: `<name>.choices` when choices is not a non-empty list; `<name>.choices[i]` for a
            choice that is not a scalar or is listed twice.
    """

    name: str
    choices: tuple[Scalar, ...]
    kind: ClassVar[str] = "categorical"

    def __post_init__(self) -> None:
        if not isinstance(self.choices, list | tuple):
            raise FieldError(f"{self.name}.choices", f"{self.choices!r} must be a list")
        object.__setattr__(self, "choices", tuple(self.choices))
        _check_choices(self.name, self.choices)

    def validate(self, value: Any) -> Scalar:
        """The matching choice; FieldError(`<name>`) when the value is none of them."""
        for choice in self.choices:
            if _same_choice(choice, value):
                return choice
        near = did_you_mean(value, [c for c in self.choices if isinstance(c, str)])
        raise FieldError(self.name, f"{value!r} is not one of {list(self.choices)}{near}")

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


def _check_range(name: str, low: float, high: float, log: bool, real: bool = False) -> None:
    for bound, label in ((low, "low"), (high, "high")):
        if not _is_number(bound):
            raise FieldError(f"{name}.{label}", f"{bound!r} must be a finite number")
        check_number(bound, f"{name}.{label}", real)
    if not isinstance(log, bool):
        raise FieldError(f"{name}.log", f"{log!r} must be true or false")
    if low > high:
        raise FieldError(f"{name}.low", f"{low!r} is greater than high={high!r}; swap the bounds")
    if log and low <= 0:
        raise FieldError(f"{name}.low", f"{low!r} must be > 0 on a log scale (make low positive, or set log: false)")


def _check_choices(name: str, choices: tuple[Any, ...]) -> None:
    if not choices or len(choices) > MAX_CHOICES:
        raise FieldError(f"{name}.choices", f"{len(choices)} values: give 1-{MAX_CHOICES:,}")
    for i, choice in enumerate(choices):
        if not isinstance(choice, bool | int | float | str):
            raise FieldError(f"{name}.choices[{i}]", f"{choice!r} must be a string, number or boolean")
        check_number(choice, f"{name}.choices[{i}]")
        if isinstance(choice, str) and len(choice) > MAX_CHOICE_CHARS:
            raise FieldError(f"{name}.choices[{i}]", f"a string of {len(choice):,} characters; at most "
                                                     f"{MAX_CHOICE_CHARS} (name the choice, not its contents)")
        if any(_same_choice(seen, choice) for seen in choices[:i]):
            raise FieldError(f"{name}.choices[{i}]", f"{choice!r} is listed twice; remove one")


def _same_choice(a: Any, b: Any) -> bool:
    # True == 1 in Python; a space with [1, True] or a proposal of 1 for [True] must not be confused.
    return type(a) is type(b) and a == b or (_is_number(a) and _is_number(b) and a == b)


_FIELDS = {"float": ("low", "high"), "int": ("low", "high"), "categorical": ("choices",), "ordinal": ("choices",)}


def param_from_json(name: str, data: Mapping[str, Any]) -> Param:
    """The parameter `name` from its JSON/YAML mapping (`{type: float, low: 0, high: 1, log: false}`).

    Raises:
        FieldError: `<name>` for a non-mapping, `<name>.type` for a missing or unknown type (with a
            'did you mean'), `<name>.<field>` for an unknown or missing field, and the constructors' errors.
    """
    if not isinstance(data, Mapping):
        raise FieldError(name, f"{data!r} must be a mapping with 'type' (one of {sorted(_KINDS)})")
    kind = data.get("type")
    if kind is None:
        raise FieldError(f"{name}.type", f"is required (one of {sorted(_KINDS)})")
    if not isinstance(kind, str) or kind not in _KINDS:
        raise FieldError(f"{name}.type", f"{kind!r} is not one of {sorted(_KINDS)}{did_you_mean(kind, _KINDS)}")
    required = _FIELDS[kind]
    reject_unknown(data, {"type", *required, *(("log",) if kind in ("float", "int") else ())}, name)
    for key in required:
        if key not in data:
            raise FieldError(f"{name}.{key}", f"is required for type {kind!r}")
    if kind in ("float", "int"):
        low, high = data["low"], data["high"]
        if kind == "float":  # YAML reads `low: 0` as an int; a float parameter's bounds are floats
            low, high = (float(b) if _is_number(b) and abs(b) <= FLOAT_BOUND else b for b in (low, high))
        return _KINDS[kind](name, low, high, data.get("log", False))
    return _KINDS[kind](name, data["choices"])


class SearchSpace(Sequence[Param]):
    """An ordered collection of named parameters.

    Raises:
        FieldError: `<name>` for a name given twice; `''` for an empty space.
    """

    def __init__(self, params: Sequence[Param]):
        names = [p.name for p in params]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise FieldError(duplicates[0], f"parameter name(s) {duplicates} appear more than once; rename one")
        if not params or len(params) > MAX_PARAMS:
            raise FieldError("", f"{len(params)} parameters: a search space has 1-{MAX_PARAMS}")
        for name in names:
            check_param_name(name)
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
        """The config with values coerced to each parameter's type.

        Raises:
            FieldError: the path names the parameter (missing, unknown or out of range); `''` for a non-mapping.
        """
        if not isinstance(config, Mapping):
            raise FieldError("", f"a configuration must be a mapping, got {config!r}")
        missing = [n for n in self.names if n not in config]
        if missing:
            raise FieldError(missing[0], f"is required: the configuration is missing {missing}")
        extra = sorted(str(n) for n in set(config) - set(self.names))
        if extra:
            raise FieldError(extra[0], f"unknown parameter(s) {extra}{did_you_mean(extra[0], self.names)}; "
                                       f"the space has {self.names}")
        return {p.name: p.validate(config[p.name]) for p in self._params}

    def sample(self, rng: np.random.Generator) -> dict[str, Scalar]:
        return {p.name: p.sample(rng) for p in self._params}

    def key(self, config: Mapping[str, Any]) -> tuple:
        """A hashable identity for duplicate detection (floats compared to 12 significant digits)."""
        return tuple(float(f"{config[p.name]:.12g}") if isinstance(p, FloatParam) else config[p.name]
                     for p in self._params)

    def to_json(self) -> dict[str, dict[str, Any]]:
        return {p.name: p.to_json() for p in self._params}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SearchSpace:
        """The space from `{name: parameter mapping}`; FieldError paths as `param_from_json`'s."""
        if not isinstance(data, Mapping) or not data:
            raise FieldError("", f"a search space must be a non-empty mapping of name -> parameter, got {data!r}")
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
