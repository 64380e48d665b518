"""One error for every value that cannot be used: `FieldError(path, message)`.

Value objects (space, spec, cluster, LLM config, suites, task options, step messages) raise it from
their constructors. `path` names the field (`space.lr.low`, `task_options.split_seed`); the message
names the value and says the fix. A parser one level out adds its prefix with `within` (or the
`prefixed` context manager): paths are built in that one place, never recovered from message text.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any


class FieldError(ValueError):
    """A field whose value cannot be used.

    Args:
        path: the field's dotted path from the document's top (`''` for the document itself).
        message: what is wrong with the value and how to fix it; it names the value.
        source: where the document came from (a file name, 'command line'); shown first.
    """

    def __init__(self, path: str, message: str, source: str = ""):
        self.path = path
        self.message = message
        self.source = source
        super().__init__(self._text())

    def _text(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.source}: {where}{self.message}" if self.source else f"{where}{self.message}"

    def within(self, prefix: str) -> FieldError:
        """The same error seen from one level out: `prefix` is put before the path."""
        return type(self)(join_path(prefix, self.path), self.message, self.source)

    def from_source(self, source: str) -> FieldError:
        """The same error, saying which document it is in (kept if one was already named)."""
        return type(self)(self.path, self.message, self.source or source)

    def __reduce__(self):  # picklable across processes, like any exception with extra fields
        return type(self), (self.path, self.message, self.source)


def join_path(prefix: str, path: str) -> str:
    """`space` + `lr.low` -> `space.lr.low`; either side may be empty."""
    return ".".join(part for part in (prefix, path) if part)


@contextmanager
def prefixed(prefix: str, source: str = "") -> Iterator[None]:
    """Re-raise a FieldError from the block with `prefix` before its path (and `source`, if given)."""
    try:
        yield
    except FieldError as exc:
        error = exc.within(prefix)
        raise (error.from_source(source) if source else error) from None


def did_you_mean(name: Any, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for a near miss among choices, else ''."""
    if not isinstance(name, str):
        return ""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_name(path: str, name: Any, known: Iterable[str], what: str = "field") -> FieldError:
    """The error for a name outside `known`, with a 'did you mean' for a near miss."""
    known = sorted(known)
    return FieldError(join_path(path, str(name)) if what == "field" else path,
                      f"unknown {what} {name!r}{did_you_mean(name, known)}; allowed: {known}")


def reject_unknown(data: Mapping[str, Any], allowed: Iterable[str], path: str = "") -> None:
    """Raise for the first key of `data` outside `allowed`, named by its path (`path.key`)."""
    allowed = set(allowed)
    unknown = sorted(str(key) for key in set(data) - allowed)
    if unknown:
        raise unknown_name(path, unknown[0], allowed)
