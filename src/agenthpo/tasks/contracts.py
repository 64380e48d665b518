"""Data contracts: what a task's data must satisfy before any trial trains on it (great-expectations).

A plug-in's optional `check_data(ctx)` returns one `ContractReport` per table it checks. Tabular data
is checked as it is; other data (images, graphs, text pairs) is checked through a small table that
describes it (one row per image, per node, per pair...). The study records every report as an MLflow
artifact and refuses to train when one fails (`DataContractError`, whose message lists what failed).

Plug-ins build expectations with `expect("column_values_to_be_between", column="ph", min_value=0, ...)`
so that importing a plug-in never imports great-expectations.
"""

from __future__ import annotations

import hashlib
import json
import logging
import numbers
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agenthpo.tasks.options import Check, Option

# How many offending values a failure message shows.
_EXAMPLES = 5


@dataclass(frozen=True)
class Expectation:
    """One great-expectations expectation by its snake-case name, e.g. 'column_values_to_not_be_null'."""

    kind: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"expect_{self.kind}({args})"


def expect(kind: str, **kwargs: Any) -> Expectation:
    return Expectation(kind.removeprefix("expect_"), kwargs)


# The spec's own expectations, for the plug-ins that check a table the user knows (tabular, text).
EXPECTATIONS = Option("expectations", list, [], Check(
    "of {expect: <name>, <argument>: <value>, ...} mappings",
    lambda items: all(isinstance(item, Mapping) and isinstance(item.get("expect"), str) for item in items)),
    "extra great-expectations checks of the data, e.g. {expect: column_values_to_be_between, column: ph, "
    "min_value: 0}")


def user_expectations(items: Any) -> list[Expectation]:
    """Expectations written in a spec: a list of `{expect: <name>, <argument>: <value>, ...}` mappings
    (FieldError at task_options.expectations otherwise)."""
    return [expect(item["expect"], **{k: v for k, v in item.items() if k != "expect"})
            for item in EXPECTATIONS.value(items)]


@dataclass(frozen=True)
class ContractReport:
    """The outcome of one table's expectations."""

    table: str
    checked: int
    rows: int
    failures: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "passed": self.passed, "checked": self.checked, "rows": self.rows,
                "failures": list(self.failures)}


class DataContractError(ValueError):
    """The data broke its contract: no trial may train on it."""

    def __init__(self, source: str, reports: Sequence[ContractReport]):
        self.source = source
        self.reports = list(reports)
        failed = [f"  {r.table}: {failure}" for r in self.reports for failure in r.failures]
        super().__init__(f"data contract failed for {source} ({len(failed)} failed expectation(s)):\n"
                         + "\n".join(failed))


def _class_name(kind: str) -> str:
    return "Expect" + "".join(part.capitalize() for part in kind.split("_"))


def _failure_text(expectation: Expectation, result: Any, file_rows: bool) -> str:
    details = dict(result.result or {})
    text = expectation.describe()
    if result.exception_info and result.exception_info.get("raised_exception"):
        return f"{text}: could not run ({result.exception_info.get('exception_message')})"
    if "unexpected_count" in details:
        examples = details.get("partial_unexpected_list") or []
        shown = f", e.g. {examples[:_EXAMPLES]!r}" if examples else ""
        # The frame's index is the row's position in its file (read_csv's RangeIndex): counted from 1, as a
        # person counts rows, the header not counted.
        rows = [int(i) + 1 for i in details.get("partial_unexpected_index_list") or []
                if isinstance(i, numbers.Integral)] if file_rows else []
        where = f" at data row(s) {rows[:_EXAMPLES]}" if rows else ""
        return f"{text}: {details['unexpected_count']} unexpected value(s){shown}{where}"
    if "observed_value" in details:
        return f"{text}: observed {details['observed_value']!r}"
    return text


def import_validator() -> tuple[Any, type]:
    """great-expectations and its progress-bar settings, imported (about 2.5 s the first time; `tune` takes
    it in a thread while the LLM server starts, before the open step checks the data)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # great-expectations logs every validation at INFO; a study shows only what failed.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    return gx, ProgressBarsConfig


def has_contract(task: Any) -> bool:
    """Whether the plug-in checks its data (`TaskPlugin.check_data`, the default, checks nothing)."""
    from agenthpo.tasks.base import TaskPlugin

    check = getattr(type(task), "check_data", None)
    return check is not None and check is not TaskPlugin.check_data


def validate_frame(table: str, frame, expectations: Sequence[Expectation], file_rows: bool = False
                   ) -> ContractReport:
    """Run the expectations on a pandas DataFrame with an in-memory great-expectations context. `file_rows`:
    the frame's rows are a file's data rows, in order (a CSV as read): failures say which rows."""
    gx, ProgressBarsConfig = import_validator()  # noqa: N806 (a class)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas(name="agenthpo")
    batch = source.add_dataframe_asset(name=table).add_batch_definition_whole_dataframe("all").get_batch(
        batch_parameters={"dataframe": frame})
    suite = gx.ExpectationSuite(name=f"{table}-contract")
    for index, expectation in enumerate(expectations):
        try:
            kind = getattr(gx.expectations, _class_name(expectation.kind))
        except AttributeError:
            raise ValueError(f"expectation {expectation.kind!r} is not a great-expectations expectation") from None
        # The index in meta ties each result to its expectation: results do not keep the suite's order.
        suite.add_expectation(kind(**expectation.kwargs, meta={"agenthpo_index": index}))
    outcome = batch.validate(suite, result_format={"result_format": "SUMMARY",
                                                   "partial_unexpected_count": _EXAMPLES})
    results = sorted(outcome.results, key=lambda r: r.expectation_config.meta["agenthpo_index"])
    failures = tuple(_failure_text(expectation, result, file_rows)
                     for expectation, result in zip(expectations, results, strict=True) if not result.success)
    return ContractReport(table=table, checked=len(expectations), rows=int(len(frame)), failures=failures)


def contract_reports(spec, task, ctx) -> list[ContractReport]:
    """The task's data contract on the spec's data (nothing recorded); [] for a task without one. Missing
    or unreadable data is a failed contract, said plainly."""
    check = getattr(task, "check_data", None)
    if check is None:
        return []
    try:
        return list(check(ctx))
    except (OSError, ValueError) as exc:
        return [ContractReport(table=str(spec.data or spec.task), checked=0, rows=0,
                               failures=(f"cannot read the data: {exc}",))]


def enforce(source: str, reports: Sequence[ContractReport]) -> None:
    if any(not r.passed for r in reports):
        raise DataContractError(source, reports)


def data_fingerprint(spec) -> str:
    """What identifies the checked data: the task, its options, and every data file's path, size and mtime.

    A resumed or scheduled study whose data did not change skips the contract (great-expectations
    alone takes seconds to import); new or modified data is checked again.
    """
    test_data = getattr(spec, "test_data", None)
    digest = hashlib.sha256(json.dumps([spec.task, spec.data, dict(spec.task_options)] + ([test_data] if test_data
                                       else []), sort_keys=True, default=str).encode())
    for root in (Path(p) for p in (spec.data, test_data) if p):
        if not root.exists():
            continue
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            stat = path.stat()
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()
