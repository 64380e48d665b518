"""Cron expressions for `agenthpo schedule`: checked here, since KFP only reports a bad one when it first fires."""

from __future__ import annotations

from collections.abc import Mapping

from agenthpo.errors import FieldError

_CRON_FIELDS = (("second", 0, 59), ("minute", 0, 59), ("hour", 0, 23), ("day-of-month", 1, 31),
                ("month", 1, 12), ("day-of-week", 0, 6))
_MONTHS = {m: i + 1 for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())}
_DAYS = {d: i for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split())}


def kfp_cron(expression: str) -> str:
    """A standard 5-field cron expression (or KFP's 6-field one, seconds first) in KFP's 6-field form.

    Raises:
        FieldError: (a ValueError, path '') naming the expression, the cron field and its value.
    """
    fields = expression.split()
    if len(fields) == 5:
        fields = ["0", *fields]
    if len(fields) != 6:
        raise FieldError("", f"{expression!r} must have 5 fields (minute hour day-of-month month day-of-week) or "
                             f"6 with seconds first, e.g. '0 3 * * *' for 03:00 every day")
    names = {4: _MONTHS, 5: _DAYS}
    for index, (text, (what, low, high)) in enumerate(zip(fields, _CRON_FIELDS, strict=True)):
        for part in text.split(","):
            _cron_part(expression, part, what, low, high, names.get(index, {}), question=index in (3, 5))
    return " ".join(fields)


def _cron_part(expression: str, part: str, what: str, low: int, high: int, names: Mapping[str, int],
               question: bool) -> None:
    def bad(reason: str) -> FieldError:
        return FieldError("", f"{expression!r}: {what} field {part!r} {reason}")

    if part == "?" and question:
        return
    base, slash, step = part.partition("/")
    if slash and not (step.isdigit() and int(step) >= 1):
        raise bad("has a step that is not an integer >= 1")
    if base == "*":
        return
    values = []
    for bound in base.split("-", 1):
        value = names.get(bound.upper()) if bound.upper() in names else (int(bound) if bound.isdigit() else None)
        if value is None:
            raise bad(f"is not a number, '*', a range or a list{' (or a name)' if names else ''}")
        if not low <= value <= high:
            raise bad(f"is outside {low}-{high}")
        values.append(value)
    if values != sorted(values):
        raise bad("is a range whose start is after its end")
