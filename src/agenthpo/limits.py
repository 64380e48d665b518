"""The documented limits of a study spec, in one place, and the checks that share them.

A spec is checked against these before anything runs (exit status 2, the field named), so that no value
can crash a pipeline step, hang the compiler or exceed what MLflow or the operating system accepts.

  the file        at most 16 MiB of UTF-8 YAML; mappings and lists nested at most 32 deep; at most 100,000
                  values and 16 Mi characters once anchors and aliases are expanded; no key given twice;
                  only JSON-like values (no !!binary, !!set, !!timestamp; dates stay text) (yaml_strict.py)
  the spec        at most 64 KiB as JSON: it travels to the pipeline's steps as one parameter, and Linux
                  limits one command-line argument to 128 KiB (MAX_ARG_STRLEN)
  description     at most 20,000 characters
  budget          trials and max_failed_trials: integers in [1, 100,000]; trial_timeout: seconds, a number
                  in (0, 30 days], or absent (no timeout)
  compiled        a compiled pipeline (compile, submit, schedule) unrolls one Creator/train/analyze step triple
                  per trial: at most 500 per pipeline; schedule a larger study with --trials-per-run
  seed            an integer in [0, 2**32 - 1]
  any number      anywhere in a spec (task options, llm, cluster): an int within int64, a float with |x| <= 1e15
  space           at most 100 parameters; names as MLflow accepts param keys, and portable: 1-250 ASCII
                  letters, digits, '_', '-', '.', ' ' or '/', no leading or trailing space, no path tricks
                  ('a//b', '../a', '/a', 'a/'), nothing starting with 'agenthpo' (the project's own names)
  int bounds      within int64: |x| < 2**63
  float bounds    finite, |x| <= 1e15 (so high - low and every step between stay finite); > 0 on a log scale
  choices         at most 1,000 per parameter; numbers as the bounds above, strings at most 250 characters
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from typing import Any

from agenthpo.errors import FieldError

MAX_SPEC_FILE_BYTES = 16 * 2**20
MAX_YAML_DEPTH = 32
MAX_YAML_VALUES = 100_000
MAX_YAML_CHARS = 16 * 2**20
MAX_SPEC_JSON_BYTES = 64 * 2**10
MAX_DESCRIPTION_CHARS = 20_000
MAX_TRIALS = 100_000
MAX_COMPILED_TRIALS = 500
MAX_TRIAL_TIMEOUT = 30 * 24 * 3600
MAX_SEED = 2**32 - 1
INT_BOUND = 2**63  # exclusive
FLOAT_BOUND = 1e15  # inclusive
MAX_PARAMS = 100
MAX_CHOICES = 1_000
MAX_CHOICE_CHARS = 250
MAX_PARAM_NAME_CHARS = 250  # MLflow's MAX_ENTITY_KEY_LENGTH
RESERVED_PREFIX = "agenthpo"

_PARAM_NAME = re.compile(r"[A-Za-z0-9_\-. /]+")


def int_between(value: Any, low: int, high: int, path: str, what: str = "") -> int:
    """`value` when it is an integer in [low, high], else FieldError(path); `what` says why high is the limit."""
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise FieldError(path, f"{value!r} must be an integer >= {low}")
    if value > high:
        raise FieldError(path, f"{value!r} is more than {high:,}{what}")
    return value


def check_param_name(name: str) -> None:
    """FieldError(`name`) unless MLflow accepts it as a param key (portably) and it is not the project's own."""
    shown = name if len(name) <= 60 else name[:60] + "..."
    if not name or len(name) > MAX_PARAM_NAME_CHARS:
        raise FieldError(name, f"the parameter name {shown!r} must have 1-{MAX_PARAM_NAME_CHARS} characters")
    if not _PARAM_NAME.fullmatch(name):
        bad = sorted({c for c in name if not _PARAM_NAME.fullmatch(c)})
        raise FieldError(name, f"the parameter name {shown!r} holds {bad}: MLflow accepts only letters, digits, "
                               f"'_', '-', '.', ' ' and '/' in a param key; rename it")
    norm = posixpath.normpath(name)
    if name != name.strip() or norm != name or norm.startswith("..") or norm in (".", "/") or name.startswith("/"):
        raise FieldError(name, f"the parameter name {shown!r} would not be stored as written (MLflow normalises "
                               f"param keys as paths, to {norm!r}; leading and trailing spaces are lost); rename it")
    if name.lower().startswith(RESERVED_PREFIX):
        raise FieldError(name, f"the parameter name {shown!r} starts with {RESERVED_PREFIX!r}, which the project "
                               f"uses for its own tags and params; rename it")


def check_number(value: Any, path: str, real: bool = False) -> None:
    """FieldError(path) for an int outside int64, or a float (any number when `real`) that is not finite or
    beyond +-1e15. Compared exactly: an int of any size is refused, never overflows a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    if isinstance(value, int) and not real:
        if not -INT_BOUND < value < INT_BOUND:
            raise FieldError(path, f"{value!r} is outside the 64-bit integer range (|x| < 2**63); use a smaller "
                                   f"value")
    elif not abs(value) <= FLOAT_BOUND:  # False for NaN and infinities too
        raise FieldError(path, f"{value!r} must be a finite number with |x| <= {FLOAT_BOUND:g}; use a smaller "
                               f"value (or a unit that keeps it small)")


def check_timeout(value: Any, path: str) -> None:
    """FieldError(path) unless `value` is None (no limit) or a number of seconds in (0, 30 days]."""
    if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)
                              or not 0 < value <= MAX_TRIAL_TIMEOUT):
        raise FieldError(path, f"{value!r} must be a number of seconds in (0, {MAX_TRIAL_TIMEOUT:,}] (30 days), "
                               f"or absent for no limit")


def check_spec_size(data: dict[str, Any]) -> None:
    """FieldError at the largest top-level field of a spec's JSON when the whole is over 64 KiB (as the pipeline
    gets it: json.dumps's defaults), at a field holding something JSON cannot carry (NaN, a date, a set), or at
    any number outside the ranges above (an int beyond int64, a float beyond +-1e15), wherever it is."""
    sizes = {}
    for key, value in data.items():
        _check_numbers(value, key)
        try:
            sizes[key] = len(json.dumps(value, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise FieldError(key, f"holds a value JSON cannot carry ({exc}); use strings, numbers, lists and "
                                  f"mappings") from None
    total = len(json.dumps(data))
    if total > MAX_SPEC_JSON_BYTES:
        largest = max(sizes, key=sizes.__getitem__)
        raise FieldError(largest, f"the spec is {total:,} bytes as JSON, more than {MAX_SPEC_JSON_BYTES:,} (it "
                                  f"travels to the pipeline's steps as one parameter); {largest} takes "
                                  f"{sizes[largest]:,} of them: make it smaller")


def _check_numbers(value: Any, path: str) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _check_numbers(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_numbers(item, f"{path}[{i}]")
    else:
        check_number(value, path)
