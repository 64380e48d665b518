"""Checks that an LLM text speaks about the study before it is stored or shown.

A weak local model (e.g. SmolLM2-135M) often answers with a greeting ("I'm ready to
help. What is the task and problem?"), invents figures ("a 96.9% chance of winning")
or repeats one sentence dozens of times. Such texts used to be stored as analysis and
shown as if they were findings. `check_text` names what is wrong with a text so the
caller can drop it or tag the run; it never rewrites the text.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Quality", "check_text", "tag_value"]


@dataclass(frozen=True)
class Quality:
    """The problems found in one text; no problems means it may be stored as is."""

    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        return "; ".join(self.problems) if self.problems else "ok"


# Phrases of a chat assistant that has not understood it is analysing a study: it
# greets, refuses, or asks the user for the task it was just given.
REFUSAL_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\bI(?:['’]m| am) ready to (?:help|assist)\b",
        r"\bhow (?:can|may|could) I (?:help|assist)\b",
        r"\bwhat(?:['’]s| is) the (?:task|problem)\b",
        r"\bplease provide\b",
        r"\bas an AI\b",
        r"\bas a (?:large )?language model\b",
        r"\bI (?:cannot|can['’]t|am unable)\b",
        r"\bI['’]m unable\b",
        r"\bI(?:['’]m| am) sorry\b",
        r"\bhello\b",
        r"\bhi there\b",
        r"\bsure, here\b",
    )
)

# A number not glued to a word ("f1", "l2_reg", "x2" are names, not figures) nor part
# of a dotted version ("1.2.3"); decimals, 1e-3 and a trailing %. Prose may write
# "12,500"; data is machine-written, where "[12,500]" is two numbers.
_NUMBER_BODY = r"(?:\.(?P<dec>\d+))?)(?:[eE](?P<exp>[-+]?\d+))?%?(?![A-Za-z_]|\.?\d)"
_TEXT_NUMBER = re.compile(r"(?<![A-Za-z_\d.,])(?P<mant>(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)" + _NUMBER_BODY)
_DATA_NUMBER = re.compile(r"(?<![A-Za-z_\d.])(?P<mant>\d+" + _NUMBER_BODY)

# Sentence ends: . ! ? followed by space or end (so "0.03" is not split) or a newline.
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)|\n")
_MIN_SENTENCE = 20  # shorter fragments ("Yes.", "Epoch 3.") legitimately recur
_MAX_QUOTE = 60
_MAX_NUMBERS = 5
_REL_TOL = 0.005  # a figure within 0.5% of a data number is a fair rounding of it


def _clip(text: str, limit: int = _MAX_QUOTE) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _name_pattern(name: str) -> re.Pattern[str] | None:
    name = name.strip()
    if not name:
        return None
    # `learning_rate`, "learning rate" and "learning-rate" are the same hyperparameter.
    parts = [re.escape(p) for p in re.split(r"[\s_-]+", name) if p]
    body = r"[\s_-]+".join(parts)
    # Alphanumeric boundaries keep "lr" out of "already"; a one-letter name ("C", "k")
    # also needs the underscore excluded or it would match inside any identifier.
    edge = r"\w" if len(name) < 2 else r"[A-Za-z0-9]"
    return re.compile(rf"(?<!{edge}){body}(?!{edge})", re.IGNORECASE)


def _refusal(text: str) -> str | None:
    for pattern in REFUSAL_PATTERNS:
        found = pattern.search(text)
        if found:
            return f'a refusal or greeting ("{_clip(found.group(0))}")'
    return None


def _missing_names(text: str, names: Sequence[str]) -> str | None:
    patterns = [p for p in map(_name_pattern, names) if p is not None]
    # Without names there is nothing the text could be required to mention.
    if not patterns or any(p.search(text) for p in patterns):
        return None
    listed = _clip(", ".join(n.strip() for n in names if n.strip()))
    return f"names no hyperparameter or metric (none of {listed})"


def _repeated_sentence(text: str) -> str | None:
    counts: Counter[str] = Counter()
    first: dict[str, str] = {}
    for raw in _SENTENCE_END.split(text):
        key = " ".join(re.sub(r"[^\w\s]", " ", raw.lower()).split())
        if len(key) < _MIN_SENTENCE:
            continue
        counts[key] += 1
        first.setdefault(key, raw)
    if not counts:
        return None
    key, n = counts.most_common(1)[0]
    return f'repeats a sentence ("{_clip(first[key])}") {n} times' if n > 1 else None


def _numbers(text: str, pattern: re.Pattern[str]) -> list[tuple[str, float, int, bool]]:
    """(as written, value, decimals of precision, is integer) for each figure."""
    found = []
    for m in pattern.finditer(text):
        mant = m.group("mant").replace(",", "")
        exp = int(m.group("exp") or 0)
        decimals = max(0, len(m.group("dec") or "") - exp)
        is_int = m.group("dec") is None and exp >= 0
        found.append((m.group(0), float(mant) * 10.0**exp, decimals, is_int))
    return found


def _matches(value: float, decimals: int, data: Sequence[float]) -> bool:
    for d in data:
        # Same figure at the precision the text chose ("0.41" for 0.4123) ...
        if abs(round(d, decimals) - value) <= 1e-9 * max(1.0, abs(value)):
            return True
        # ... or close enough that the difference is rounding, not invention.
        if value != 0 and abs(d - value) <= _REL_TOL * abs(value):
            return True
    return False


def _ungrounded(text: str, data: str) -> str | None:
    known = [v for _, v, _, _ in _numbers(data, _DATA_NUMBER)]
    bad: list[str] = []
    for written, value, decimals, is_int in _numbers(text, _TEXT_NUMBER):
        # Small counts ("2 trials", "top 3") are too common to be claims about the data.
        if is_int and value <= 10:
            continue
        # A text may give a fraction as a percentage or the reverse (0.969 vs 96.9%),
        # so the figure, a hundredth of it and a hundred times it are all tried; this
        # also covers "p%" against either p or p/100 in the data.
        candidates = ((value, decimals), (value / 100, decimals + 2), (value * 100, max(0, decimals - 2)))
        if not any(_matches(v, k, known) for v, k in candidates) and written not in bad:
            bad.append(written)
    if not bad:
        return None
    more = f" and {len(bad) - _MAX_NUMBERS} more" if len(bad) > _MAX_NUMBERS else ""
    return f"cites numbers not in its data: {', '.join(bad[:_MAX_NUMBERS])}{more}"


def check_text(text: str, *, names: Sequence[str], data: str = "", require_name: bool = True) -> Quality:
    """Why an LLM text does not speak about the study, or Quality() when it does."""
    if not text or not text.strip():
        return Quality(("empty",))
    found = [
        _refusal(text),
        _missing_names(text, names) if require_name else None,
        _repeated_sentence(text),
        _ungrounded(text, data) if data.strip() else None,
    ]
    return Quality(tuple(p for p in found if p))


def tag_value(parts: Mapping[str, Quality]) -> str:
    """The `agenthpo.llm_quality` tag value for several texts of one run, e.g.
    {"rationale": Quality(), "executor": Quality(("a refusal or greeting",))}
    -> "flagged: executor: a refusal or greeting";
    all ok -> "ok"; empty mapping -> "ok". Problems joined with '; ' and each prefixed by its part name."""
    problems = [f"{part}: {p}" for part, quality in parts.items() for p in quality.problems]
    return "flagged: " + "; ".join(problems) if problems else "ok"
