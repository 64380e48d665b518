"""Task options as data: every plug-in declares the options it reads, and they are checked in one place.

An `Option` is a self-checking value object: name, type, default, a ready-made check that states its rule
in words, and one line of help. A plug-in lists its options (`TaskPlugin.options`) and reads each one
through its declaration, `ctx.option(SPLIT_SEED)`: the default and the rule are written once, in the
declaration, and a value is checked the same way when the spec loads (`agenthpo.tasks.check_task`) and
when a trial reads it. Every complaint is a `FieldError` at `task_options.<name>`.

    SPLIT_SEED = Option("split_seed", int, 0, at_least(0), "seeds the fixed train/validation/test split")

`REQUIRED` as the default makes an option one the spec must give; `None` means "not set" (a cap that is
absent, a size left to the data), and an explicit `null` in the spec then means the same.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from agenthpo.errors import FieldError, did_you_mean


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


# The default of an option that the spec must give.
REQUIRED: Any = _Required()

_TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string", list: "a list",
               dict: "a mapping"}
_PLURAL_WORDS = {int: "integers", float: "numbers", bool: "booleans", str: "strings", list: "lists",
                 dict: "mappings"}


def _has_type(value: Any, kind: type) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if kind is list:
        return isinstance(value, list | tuple)
    if kind is dict:
        return isinstance(value, Mapping)
    return isinstance(value, kind)


def _normalised(value: Any, kind: type) -> Any:
    """The value as the plug-in gets it: numbers as float, sequences as a new list, mappings as a new dict."""
    if kind is float:
        return float(value)
    if kind is list:
        return list(value)
    if kind is dict:
        return dict(value)
    return value


@dataclass(frozen=True)
class Check:
    """A rule on a well-typed value: `test(value) -> bool` and the words that state it (`>= 1`).

    The words follow the type's (`an integer >= 1`) unless `whole` says they describe the value alone
    (`one of ['temporal', 'random']`).
    """

    words: str
    test: Callable[[Any], bool]
    whole: bool = False


def at_least(minimum: float) -> Check:
    return Check(f">= {minimum:g}", lambda value: value >= minimum)


def between(low: float, high: float, low_open: bool = True, high_open: bool = True) -> Check:
    """`in (low, high)`; a closed end with low_open / high_open False."""
    words = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    return Check(words, lambda value: (low < value if low_open else low <= value)
                 and (value < high if high_open else value <= high))


def fraction(high: float = 0.5) -> Check:
    """A share of the data, in (0, high): what a held-out split may take."""
    return between(0.0, high)


def one_of(*choices: Any) -> Check:
    return Check(f"one of {list(choices)}", lambda value: value in choices, whole=True)


def one_character() -> Check:
    return Check("of one character", lambda value: len(value) == 1)


def not_empty() -> Check:
    return Check("that is not empty", lambda value: len(value) > 0)


def matching(pattern: str, words: str) -> Check:
    """A string matching a regular expression in full; `words` say what it is (`a language code such as 'en'`)."""
    compiled = re.compile(pattern)
    return Check(words, lambda value: compiled.fullmatch(value) is not None, whole=True)


def list_of(kind: type, count: int | None = None, check: Check | None = None, minimum: int = 0) -> Check:
    """A list whose items have `kind` (and pass `check`): `of 2 integers >= 16`, `of at least 1 strings`."""
    size = f"{count} " if count is not None else (f"at least {minimum} " if minimum else "")
    words = f"of {size}{_PLURAL_WORDS[kind]}" + (f" {check.words}" if check else "")

    def test(items: list) -> bool:
        if (count is not None and len(items) != count) or len(items) < minimum:
            return False
        return all(_has_type(item, kind) and (check is None or check.test(_normalised(item, kind)))
                   for item in items)

    return Check(words, test)


@dataclass(frozen=True)
class Option:
    """One task option: its name, type, default, rule (`check`) and one line of help.

    `type` is int, float (any finite number; read as float), bool, str, list, dict, or a tuple of them
    (`(str, int)`: either). Checked when built: the name is an identifier, the types are known, and the
    default passes the option's own rule.
    """

    name: str
    type: type | tuple[type, ...]
    default: Any
    check: Check | None = None
    help: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"option name {self.name!r} must be an identifier")
        unknown = [kind for kind in self.types if kind not in _TYPE_WORDS]
        if unknown:
            raise ValueError(f"option {self.name}: type(s) {unknown} not among {[t.__name__ for t in _TYPE_WORDS]}")
        if not self.help:
            raise ValueError(f"option {self.name}: needs a line of help")
        if not self.required and self.default is not None:
            try:
                self.value(self.default)
            except FieldError as exc:
                raise ValueError(f"option {self.name}: its default breaks its own rule ({exc.message})") from None

    @property
    def types(self) -> tuple[type, ...]:
        return self.type if isinstance(self.type, tuple) else (self.type,)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def path(self) -> str:
        return f"task_options.{self.name}"

    @property
    def rule(self) -> str:
        """What a value must be, in words: `an integer >= 0`."""
        if self.check is not None and self.check.whole:
            return self.check.words
        kinds = " or ".join(_TYPE_WORDS[kind] for kind in self.types)
        return f"{kinds} {self.check.words}" if self.check is not None else kinds

    def value(self, value: Any) -> Any:
        """The given value, checked and normalised; FieldError at `task_options.<name>` naming value and rule."""
        if value is None and self.default is None:
            return None
        for kind in self.types:
            if _has_type(value, kind):
                normalised = _normalised(value, kind)
                if self.check is None or self.check.test(normalised):
                    return normalised
                break
        raise FieldError(self.path, f"{value!r} must be {self.rule}")

    def read(self, options: Mapping[str, Any]) -> Any:
        """This option's value in `options`, checked, or its default; FieldError when a required one is missing."""
        if self.name in options:
            return self.value(options[self.name])
        if self.required:
            raise FieldError(self.path, f"required but not given: {self.help}")
        return self.value(self.default) if self.default is not None else None

    def describe(self) -> str:
        """One line for error messages and docs: `split_seed (an integer >= 0, default 0): seeds the split`."""
        default = ("required" if self.required else "not set by default" if self.default is None
                   else f"default {self.default!r}")
        return f"{self.name} ({self.rule}, {default}): {self.help}"


def check_options(task: str, declared: Iterable[Option], options: Mapping[str, Any]) -> dict[str, Any]:
    """Every declared option's value (given and checked, or its default); FieldError for the first problem.

    An undeclared name is refused with a 'did you mean' and the task's options listed with their help.
    """
    declared = tuple(declared)
    by_name = {option.name: option for option in declared}
    unknown = sorted((str(name) for name in options if name not in by_name), key=str)
    if unknown:
        name = unknown[0]
        listing = ("\n".join(f"  {option.describe()}" for option in declared) if declared
                   else "  (none: it takes no options)")
        raise FieldError(f"task_options.{name}", f"unknown option {name!r} for task {task}"
                                                  f"{did_you_mean(name, by_name)}; its options are:\n{listing}")
    return {option.name: option.read(options) for option in declared}


def check_metric(task: str, metrics: Iterable[str], metric: str) -> None:
    """FieldError at `objective.metric` unless the task's train() reports `metric`."""
    reported = sorted(metrics)
    if metric not in reported:
        raise FieldError("objective.metric", f"{metric!r} is not reported by {task}{did_you_mean(metric, reported)}; "
                                             f"it reports {reported}")


# Options several plug-ins share, with one rule and one default wherever they are read.
SPLIT_SEED = Option("split_seed", int, 0, at_least(0),
                    "seeds the fixed data split and subsets, the same for every trial (never the study seed)")
MAX_TRAIN_SAMPLES = Option("max_train_samples", int, None, at_least(1),
                           "train on a split_seed-seeded subset of this many training items (CPU variants)")
MAX_EVAL_SAMPLES = Option("max_eval_samples", int, None, at_least(1),
                          "evaluate on seeded subsets of this many validation and test items")
DEVICE = Option("device", str, "auto", matching(r"auto|cpu|cuda(:\d+)?", "auto, cpu, cuda or cuda:N"),
                "where torch trains: auto picks CUDA when available")
THREADS = Option("threads", int, None, at_least(1), "CPU threads for torch (default: torch's own choice)")
TORCH_OPTIONS = (DEVICE, THREADS)
# The CPU variants' caps on the splits (agenthpo.tasks.caps.split_caps reads them).
SUBSET_OPTIONS = (MAX_TRAIN_SAMPLES, MAX_EVAL_SAMPLES)
