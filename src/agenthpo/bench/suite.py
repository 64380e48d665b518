"""A benchmark suite: which specs, proposers, repeats and budget a benchmark runs, checked on load.

`load_suite` reads a suite file, `parse_suite` checks its data; both raise `FieldError` naming the
field (`specs[0].repeats`) and the value. A suite derives every study it runs (`study_spec`,
`human_spec`) from its specs, so that every proposer of a repeat gets the same spec, seed, budget
and start configuration.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from agenthpo.errors import FieldError, did_you_mean, join_path, prefixed, reject_unknown
from agenthpo.pruning import NONE, PrunerSpec
from agenthpo.spec import DEFAULT_TRACKING_URI, StudySpec, absolute_sqlite_uri, int_at_least, load_spec, parse_spec
from agenthpo.yaml_strict import load_yaml

# The paper's Table 3 reports the best result after 1, 3, 5 and 10 trials.
MARKS = (1, 3, 5, 10)
DEFAULT_HUMAN_TRIALS = 100
DEFAULT_PROPOSERS = ("agent", "llm", "tpe", "random")
# The best-human baseline's seed, apart from the repeats' seeds so it is no repeat's random study.
HUMAN_SEED_OFFSET = 1000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_ENTRY_FIELDS = {"path", "start", "repeats", "human_trials"}
_FIELDS = {"name", "specs", "proposers", "pruners", "repeats", "trials", "seed", "human_trials", "tracking_uri",
           "out"}
_COMMAND_LINE = "command line"
NO_PRUNER = PrunerSpec()


@dataclass(frozen=True)
class SuiteEntry:
    """One spec of the suite, and what its studies share: the start configuration (None: the spec's own),
    and, for specs whose trials cost minutes, fewer repeats or best-human trials than the suite's."""

    spec: StudySpec
    path: str
    start: Mapping[str, Any] | None = None
    repeats: int | None = None
    human_trials: int | None = None


@dataclass(frozen=True)
class Suite:
    name: str
    entries: tuple[SuiteEntry, ...]
    proposers: tuple[str, ...]
    repeats: int
    trials: int
    seed: int = 0
    human_trials: int = DEFAULT_HUMAN_TRIALS
    tracking_uri: str = DEFAULT_TRACKING_URI
    out: str = ""
    source: str = ""
    # Early-stopping rules compared for every proposer (agenthpo.pruning); the first is the baseline of the
    # time-to-target column. (PrunerSpec(),): each spec's own pruner setting is replaced by none.
    pruners: tuple[PrunerSpec, ...] = (NO_PRUNER,)

    @property
    def arms(self) -> tuple[tuple[str, str, PrunerSpec], ...]:
        """(label, proposer, pruner) for every proposer and pruner: the label is the proposer's name, with
        the pruner's after a '-' when there is one (`tpe-median`); it names the studies and the table rows."""
        return tuple((proposer if pruner.name == NONE else f"{proposer}-{pruner.name}", proposer, pruner)
                     for proposer in self.proposers for pruner in self.pruners)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(label for label, _, _ in self.arms)

    @property
    def marks(self) -> tuple[int, ...]:
        return tuple(m for m in MARKS if m <= self.trials)

    def repeats_of(self, entry: SuiteEntry) -> int:
        return self.repeats if entry.repeats is None else entry.repeats

    def human_trials_of(self, entry: SuiteEntry) -> int:
        return self.human_trials if entry.human_trials is None else entry.human_trials

    def with_overrides(self, *, repeats: int | None = None, trials: int | None = None,
                       proposers: Sequence[str] | None = None, pruners: Sequence[str] | None = None,
                       out: str | None = None,
                       tracking_uri: str | None = None, human_trials: int | None = None) -> Suite:
        """The suite with command-line overrides, checked like the file's own values."""
        # A number given on the command line applies to every spec, the entries' own numbers included.
        entries = tuple(replace(e, repeats=None if repeats is not None else e.repeats,
                                human_trials=None if human_trials is not None else e.human_trials)
                        for e in self.entries)
        changed = replace(
            self, entries=entries, repeats=self.repeats if repeats is None else repeats,
            trials=self.trials if trials is None else trials,
            proposers=self.proposers if proposers is None else tuple(proposers),
            pruners=self.pruners if pruners is None else tuple(self._pruner_named(name) for name in pruners),
            out=self.out if out is None else out,
            human_trials=self.human_trials if human_trials is None else human_trials,
            tracking_uri=self.tracking_uri if tracking_uri is None else absolute_sqlite_uri(tracking_uri))
        with prefixed("", _COMMAND_LINE):
            _check_proposers(changed.proposers)
            for value, label, least in ((changed.repeats, "--repeats", 1), (changed.trials, "--trials", 1),
                                        (changed.human_trials, "--human-trials", 0)):
                int_at_least(value, least, label)
        return changed

    def _pruner_named(self, name: str) -> PrunerSpec:
        """A pruner named on the command line: the suite's own options for it, if the suite has it."""
        with prefixed("--pruners", _COMMAND_LINE):
            return next((p for p in self.pruners if p.name == name), None) or PrunerSpec.from_json(name)

    def study_name(self, entry: SuiteEntry, proposer: str, repeat: int) -> str:
        return f"{self.name}.{entry.spec.name}.{proposer}.r{repeat}"

    def human_name(self, entry: SuiteEntry) -> str:
        return f"{self.name}.{entry.spec.name}.human"

    def study_spec(self, entry: SuiteEntry, label: str, repeat: int) -> StudySpec:
        """A repeat's study for an arm (`labels`): the entry's spec with the arm's proposer and pruner, the
        suite's budget, seed, start and tracking."""
        _, proposer, pruner = next(arm for arm in self.arms if arm[0] == label)
        return self._derive(entry, self.study_name(entry, label, repeat), proposer, self.seed + repeat,
                            self.trials, entry.start if entry.start is not None else entry.spec.start, pruner)

    def human_spec(self, entry: SuiteEntry) -> StudySpec:
        # The human baseline does not start from the shared configuration: it is a plain random search.
        return self._derive(entry, self.human_name(entry), "random", self.seed + HUMAN_SEED_OFFSET,
                            self.human_trials_of(entry), None)

    def _derive(self, entry: SuiteEntry, name: str, proposer: str, seed: int, trials: int,
                start: Mapping[str, Any] | None, pruner: PrunerSpec = NO_PRUNER) -> StudySpec:
        data = entry.spec.to_json()
        options = dict(entry.spec.proposer.options) if entry.spec.proposer.name == proposer else {}
        # A pruner named without options takes the spec's own options for it (as a proposer does).
        data["pruner"] = (entry.spec.pruner if entry.spec.pruner.name == pruner.name and pruner.options ==
                          PrunerSpec(pruner.name).options else pruner).to_json()
        data.update(name=name, experiment=self.name, seed=seed, tracking_uri=self.tracking_uri,
                    budget={"trials": trials, "max_failed_trials": trials},
                    parallel=min(entry.spec.parallel, trials),
                    proposer={"name": proposer, **options}, start=None if start is None else dict(start))
        return parse_spec(data, base_dir=None, source=f"{self.source or self.name}: {entry.path}")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "specs": [{"path": e.path, "spec": e.spec.name, "start": e.start,
                                              "repeats": self.repeats_of(e), "human_trials": self.human_trials_of(e)}
                                             for e in self.entries],
                "proposers": list(self.proposers), "pruners": [p.to_json() for p in self.pruners],
                "repeats": self.repeats, "trials": self.trials,
                "seed": self.seed, "human_trials": self.human_trials, "tracking_uri": self.tracking_uri,
                "out": self.out, "marks": list(self.marks)}


def load_suite(path: str | os.PathLike[str]) -> Suite:
    """Read and check a suite file; spec paths are taken from the suite's folder."""
    path = Path(path)
    with prefixed("", str(path)):  # duplicate keys, non-UTF-8 and YAML bombs refused as for specs
        data = load_yaml(path)
    return parse_suite(data, path.resolve().parent, str(path))


def parse_suite(data: Any, base_dir: Path, source: str = "") -> Suite:
    """Check a suite's data; relative spec paths are taken from `base_dir`, errors name `source`."""
    with prefixed("", source):
        suite = _parse(data, Path(base_dir), source)
    for entry in suite.entries:  # a bad start fails now, not after hours of other studies
        suite.study_spec(entry, suite.labels[0], 0)
    return suite


def _parse(data: Any, base_dir: Path, source: str) -> Suite:
    if not isinstance(data, Mapping):
        raise FieldError("suite", f"expected a mapping at the top level, got {data!r}")
    reject_unknown(data, _FIELDS)
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise FieldError("name", f"{name!r} must be 1-64 letters, digits, '_' or '-' (it prefixes every study's name)")
    specs = data.get("specs")
    if not isinstance(specs, list) or not specs:
        raise FieldError("specs", f"{specs!r} must be a non-empty list of spec paths or {{path, start}} mappings")
    entries: list[SuiteEntry] = []
    for i, item in enumerate(specs):
        where = f"specs[{i}]"
        with prefixed(where):
            path, start, repeats, human_trials = _entry_fields(item, base_dir)
        spec = load_spec(base_dir / path)  # its errors name the spec's own file and field
        if any(e.spec.name == spec.name for e in entries):
            raise FieldError(join_path(where, "path"), f"{path!r}: spec name {spec.name!r} is already in the suite")
        entries.append(SuiteEntry(spec, path, start, repeats, human_trials))
    proposers = data.get("proposers", list(DEFAULT_PROPOSERS))
    _check_proposers(proposers)
    pruners = _pruners(data.get("pruners", [NONE]))
    repeats = int_at_least(data.get("repeats", 3), 1, "repeats")
    trials = int_at_least(data.get("trials", max(MARKS)), 1, "trials")
    seed = int_at_least(data.get("seed", 0), 0, "seed")
    human_trials = int_at_least(data.get("human_trials", DEFAULT_HUMAN_TRIALS), 0, "human_trials")
    tracking_uri = data.get("tracking_uri", DEFAULT_TRACKING_URI)
    out = data.get("out", f"bench-results/{name}")
    for value, label in ((tracking_uri, "tracking_uri"), (out, "out")):
        if not isinstance(value, str) or not value.strip():
            raise FieldError(label, f"{value!r} must be a non-empty string")
    return Suite(name, tuple(entries), tuple(proposers), repeats, trials, seed, human_trials,
                 absolute_sqlite_uri(tracking_uri), out, source, pruners)


def _pruners(data: Any) -> tuple[PrunerSpec, ...]:
    if not isinstance(data, list) or not data:
        raise FieldError("pruners", f"{data!r} must be a non-empty list of pruners (none, median, asha, or "
                                    f"mappings with 'name' and options)")
    pruners = []
    for i, item in enumerate(data):
        with prefixed(f"pruners[{i}]"):
            pruners.append(PrunerSpec.from_json(item))
    if len({p.name for p in pruners}) != len(pruners):
        raise FieldError("pruners", f"{data!r} names a pruner twice")
    return tuple(pruners)


def _entry_fields(item: Any, base_dir: Path) -> tuple[str, dict[str, Any] | None, int | None, int | None]:
    """(path, start, repeats, human_trials) of one item of `specs`; error paths are relative to the item."""
    if isinstance(item, str):
        item = {"path": item}
    if not isinstance(item, Mapping) or not isinstance(item.get("path"), str):
        raise FieldError("", f"{item!r} must be a spec path or a mapping with 'path' (and optional "
                             f"{sorted(_ENTRY_FIELDS - {'path'})})")
    reject_unknown(item, _ENTRY_FIELDS)
    spec_path = base_dir / item["path"]
    if not spec_path.is_file():
        raise FieldError("path", f"{item['path']!r} does not exist (looked for {spec_path})")
    start = item.get("start")
    if start is not None and not isinstance(start, Mapping):
        raise FieldError("start", f"{start!r} must be a mapping of parameter -> value")
    repeats, human_trials = item.get("repeats"), item.get("human_trials")
    if repeats is not None:
        int_at_least(repeats, 1, "repeats")
    if human_trials is not None:
        int_at_least(human_trials, 0, "human_trials")
    return item["path"], None if start is None else dict(start), repeats, human_trials


def _check_proposers(proposers: Any) -> None:
    from agenthpo.proposers import PROPOSERS

    if not isinstance(proposers, list | tuple) or not proposers:
        raise FieldError("proposers", f"{proposers!r} must be a non-empty list of {sorted(PROPOSERS)}")
    for i, proposer in enumerate(proposers):
        if not isinstance(proposer, str) or proposer not in PROPOSERS:
            raise FieldError(f"proposers[{i}]", f"{proposer!r} is not one of {sorted(PROPOSERS)}"
                                                f"{did_you_mean(proposer, PROPOSERS)}")
    if len(set(proposers)) != len(proposers):
        raise FieldError("proposers", f"{list(proposers)!r} names a proposer twice")
