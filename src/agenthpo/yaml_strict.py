"""Strict YAML for specs: UTF-8, bounded, no key given twice, only JSON-like values.

PyYAML's safe loader accepts what a spec must not: a key given twice (the last silently wins), anchors and
aliases that blow a small file up into billions of values ("billion laughs"), nesting deep enough to crash
libyaml's composer, and tags for binary data, sets, ordered maps and timestamps. `load_yaml(path)` refuses each
with a FieldError naming where: the path of the key (`space.lr.low`, `budget`, `space.opt.choices[2]`) and its
line. Its limits (agenthpo.limits): a file of at most 16 MiB; mappings and lists nested at most 32 deep; at most
100,000 values and 16 Mi characters once every alias is expanded (each counted as what it repeats); an alias
to a node that contains it is refused. Timestamps stay text (`2024-01-01` reads as the string, as in JSON).

The checks run over libyaml's event stream (flat, no recursion), so nothing is composed before it is bounded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import yaml

from agenthpo.errors import FieldError, join_path
from agenthpo.limits import MAX_SPEC_FILE_BYTES, MAX_YAML_CHARS, MAX_YAML_DEPTH, MAX_YAML_VALUES

_BASE: type = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
_CORE = "tag:yaml.org,2002:"
# Tags a JSON value can carry; None and '!' are "no tag" (plain and quoted scalars).
_ALLOWED_TAGS = {None, "!", *(_CORE + kind for kind in ("str", "int", "float", "bool", "null", "seq", "map"))}
_NO_TIMESTAMPS = {first: [(tag, regexp) for tag, regexp in resolvers if tag != _CORE + "timestamp"]
                  for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


class _Loader(_BASE):  # type: ignore[misc, valid-type]
    yaml_implicit_resolvers = _NO_TIMESTAMPS


class _KeyResolver(yaml.resolver.Resolver):
    yaml_implicit_resolvers = _NO_TIMESTAMPS


def load_yaml(path: str | os.PathLike[str]) -> Any:
    """The document in the file at `path`, checked as the module docstring says.

    Raises:
        FieldError: '' for the file itself (unreadable, too large, not UTF-8, not YAML), else the path of the
            offending key or value; the caller names the file (`prefixed('', source)`).
    """
    try:
        with open(path, "rb") as file:
            raw = file.read(MAX_SPEC_FILE_BYTES + 1)
    except OSError as exc:
        raise FieldError("", f"cannot read the file: {exc.strerror}") from None
    if len(raw) > MAX_SPEC_FILE_BYTES:
        raise FieldError("", f"the file is larger than {MAX_SPEC_FILE_BYTES // 2**20} MiB; a spec is far smaller "
                             f"(at most 64 KiB as JSON)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise FieldError("", f"is not UTF-8 text: byte 0x{raw[exc.start]:02x} on line {line} cannot be decoded; "
                             f"save the file as UTF-8") from None
    return loads_yaml(text)


def loads_yaml(text: str) -> Any:
    """The document in `text`, checked as `load_yaml` checks a file's (but for its size)."""
    try:
        _check_events(text)
        loader = _Loader(text)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except FieldError:
        raise
    except yaml.YAMLError as exc:
        raise FieldError("", f"not valid YAML: {exc}") from None
    except ValueError as exc:  # a value the constructor cannot make, e.g. an integer of more than 4300 digits
        raise FieldError("", f"not a usable YAML value: {exc}") from None


@dataclass
class _Frame:
    """An open mapping or sequence: its path, and where its next item goes."""

    path: str
    mapping: bool
    anchor: str | None
    values_before: int
    chars_before: int
    index: int = 0  # sequences: the next item's index
    key: str | None = None  # mappings: the key whose value comes next (None: a key comes next)
    seen: dict[Any, int] = field(default_factory=dict)  # mappings: key -> the line it was first given on


class _Walk:
    """The checks, one event at a time: where each node is, how much the aliases expand, which keys repeat."""

    def __init__(self) -> None:
        self.stack: list[_Frame] = []
        self.values = 0
        self.chars = 0
        self.anchors: dict[str, tuple[int, int]] = {}  # anchor -> (values, characters) it stands for
        self.open: set[str] = set()  # anchors of the collections being read
        self.resolver = _KeyResolver()
        self.constructor = yaml.constructor.SafeConstructor()

    def event(self, event: yaml.Event) -> None:
        if isinstance(event, yaml.CollectionEndEvent):
            frame = self.stack.pop()
            if frame.anchor:
                self.open.discard(frame.anchor)
                self.anchors[frame.anchor] = (self.values - frame.values_before, self.chars - frame.chars_before)
            self._done("?")
        elif isinstance(event, yaml.NodeEvent):
            self._node(event, self._place(event))

    def _node(self, event: yaml.NodeEvent, path: str) -> None:
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self.open:
                raise FieldError(path, f"*{event.anchor} (line {_line(event)}) refers to a node that contains it; "
                                       f"a spec is a tree")
            self._grow(*self.anchors.get(event.anchor, (1, 0)), path)
            self._done(f"*{event.anchor}")
            return
        if event.tag not in _ALLOWED_TAGS:
            raise FieldError(path, f"the YAML tag {event.tag!r} (line {_line(event)}) is not allowed: a spec holds "
                                   f"strings, numbers, booleans, null, lists and mappings")
        if isinstance(event, yaml.ScalarEvent):
            if len(event.value) > 1000 and self._tag(event) == _CORE + "int":  # Python reads at most 4300 digits
                raise FieldError(path, f"an integer of {len(event.value):,} digits (line {_line(event)}) is far "
                                       f"outside any range a spec takes")
            self._grow(1, len(event.value), path)
            if event.anchor:
                self.anchors[event.anchor] = (1, len(event.value))
            self._done(event.value)
            return
        if len(self.stack) >= MAX_YAML_DEPTH:
            raise FieldError(path, f"nested more than {MAX_YAML_DEPTH} levels deep (line {_line(event)})")
        self._grow(1, 0, path)
        mapping = isinstance(event, yaml.MappingStartEvent)
        self.stack.append(_Frame(path, mapping, event.anchor, self.values - 1, self.chars))
        if event.anchor:
            self.open.add(event.anchor)

    def _place(self, event: yaml.NodeEvent) -> str:
        """The path of the node that starts with `event`; a mapping's key is checked against the earlier ones."""
        if not self.stack:
            return ""
        parent = self.stack[-1]
        if not parent.mapping:
            return f"{parent.path}[{parent.index}]"
        if parent.key is not None:
            return join_path(parent.path, parent.key)
        if not isinstance(event, yaml.ScalarEvent):  # an alias or a collection as a key: no name to check
            return join_path(parent.path, "?")
        path = join_path(parent.path, event.value)
        key = self._key(event)
        try:
            first = parent.seen.get(key)
        except TypeError:  # unhashable: the constructor says so
            return path
        if first is not None:
            raise FieldError(path, f"is given twice (lines {first} and {_line(event)}); keep one")
        parent.seen[key] = _line(event)
        return path

    def _tag(self, event: yaml.ScalarEvent) -> str:
        if event.tag in (None, "!"):
            return self.resolver.resolve(yaml.ScalarNode, event.value, event.implicit)
        return event.tag

    def _key(self, event: yaml.ScalarEvent) -> Any:
        """The key as the constructor makes it (1, 1.0 and true are one key in a Python mapping, as in the spec)."""
        tag = self._tag(event)
        try:
            return self.constructor.construct_object(yaml.ScalarNode(tag, event.value))
        except (yaml.YAMLError, ValueError):
            return (tag, event.value)

    def _done(self, text: str) -> None:
        """A node ended (`text`: a scalar's text): its parent expects the next key, value or item."""
        if not self.stack:
            return
        parent = self.stack[-1]
        if not parent.mapping:
            parent.index += 1
        else:
            parent.key = text if parent.key is None else None

    def _grow(self, values: int, chars: int, path: str) -> None:
        self.values += values
        self.chars += chars
        if self.values > MAX_YAML_VALUES or self.chars > MAX_YAML_CHARS:
            raise FieldError(path, f"the document grows past {MAX_YAML_VALUES:,} values or {MAX_YAML_CHARS:,} "
                                   f"characters here (each alias counted as what it repeats); a spec is far smaller")


def _line(event: yaml.Event) -> int:
    return event.start_mark.line + 1


def _check_events(text: str) -> None:
    walk = _Walk()
    for event in yaml.parse(text, Loader=_Loader):
        walk.event(event)
