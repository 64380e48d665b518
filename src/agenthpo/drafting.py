"""`agenthpo init`: a spec drafted from a sentence and a data file, by rules (an LLM may choose instead).

What the data is decides the plug-in: a Planetoid folder is a graph (node classification, or link
prediction when the sentence asks for links); a "label sentence" file, a folder of train/dev splits, or a
table with a column of prose is text classification; any other table is tabular (XGBoost), classification
or regression by its target. The target is the column the sentence names, else one called label, target,
class, y or outcome, else the last column. The metric is the one the sentence names among the plug-in's,
else the plug-in's default. The space is the plug-in's Table-2-style default space; the description is
the sentence and what the data shows. `Choice` says which rule (or the LLM) made each choice.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agenthpo.tasks import TaskPlugin, TrialContext, load_task

TARGET_NAMES = ("label", "target", "class", "y", "outcome")
MAX_CLASSES = 20  # a target with more distinct whole values than this is regressed
PROSE_CHARS, PROSE_WORDS = 15, 3  # a text column: on average at least this long and this many words
REGRESSION_WORDS = ("price", "how much", "how many", "amount", "regress", "estimate the", "forecast", "value of")
MINIMIZED = ("rmse", "loss", "logloss", "error", "mae")
GRAPH_FILES = ("x", "y", "tx", "ty", "graph", "test.index")


@dataclass(frozen=True)
class DataShape:
    """What a data path holds: kind (table, text, graph), columns and a sample of rows (tables), datasets (graphs)."""

    kind: str
    path: Path
    columns: tuple[str, ...] = ()
    rows: int = 0
    frame: Any = None  # a pandas sample of a table (at most SAMPLE_ROWS rows)
    datasets: tuple[str, ...] = ()
    text_column: str | None = None


@dataclass
class Draft:
    task: str
    options: dict[str, Any] = field(default_factory=dict)
    metric: str = ""
    direction: str = "maximize"
    choices: list[str] = field(default_factory=list)  # why each choice was made, for the spec's comments


SAMPLE_ROWS = 20000


def inspect(path: str | Path) -> DataShape:
    """What the path holds. Raises ValueError (naming the path) for one that is missing or unreadable."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"--data {str(path)!r} does not exist")
    if path.is_dir():
        datasets = tuple(sorted(p.name.split(".")[1] for p in path.glob("ind.*.graph")
                                if all((path / f"ind.{p.name.split('.')[1]}.{part}").exists() for part in GRAPH_FILES)))
        if datasets:
            return DataShape("graph", path, datasets=datasets)
        for stem in ("train",):
            for ext in (".tsv", ".csv", ".txt"):
                if (path / f"{stem}{ext}").is_file():
                    inner = inspect(path / f"{stem}{ext}")
                    return DataShape("text", path, inner.columns, inner.rows, inner.frame,
                                     text_column=inner.text_column)
        raise ValueError(f"--data {str(path)!r}: a folder, but neither Planetoid files (ind.<name>.graph, ...) nor "
                         f"train/dev splits (train.tsv, train.csv, train.txt)")
    if path.suffix == ".txt":
        from agenthpo.tasks.text_classification import read_lines

        frame = read_lines(path)
        return DataShape("text", path, tuple(frame.columns), len(frame), frame.head(SAMPLE_ROWS),
                         text_column="sentence")
    import pandas as pd

    try:
        # GLUE's TSV files quote nothing (as the text plug-in reads them).
        frame = pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",", nrows=SAMPLE_ROWS,
                            quoting=csv.QUOTE_NONE if path.suffix == ".tsv" else csv.QUOTE_MINIMAL)
        with open(path, "rb") as lines:
            rows = sum(1 for _ in lines) - 1
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"--data {str(path)!r}: cannot read it as a CSV/TSV table ({exc})") from None
    frame.columns = [str(c) for c in frame.columns]
    prose = [c for c in frame.columns if _is_prose(frame[c])]
    kind = "text" if prose and len(frame.columns) <= 4 else "table"
    return DataShape(kind, path, tuple(frame.columns), rows, frame, text_column=prose[0] if prose else None)


def _textual(column) -> bool:
    """Strings (pandas 3 reads them as its string dtype, older pandas as object)."""
    import pandas as pd

    return bool(pd.api.types.is_string_dtype(column) or column.dtype == object)


def _is_prose(column) -> bool:
    if not _textual(column):
        return False
    text = column.dropna().astype(str)
    return len(text) > 0 and text.str.len().mean() >= PROSE_CHARS and text.str.split().str.len().mean() >= PROSE_WORDS


def mentioned(sentence: str, names) -> list[str]:
    """The names the sentence mentions (whole words, any case, '_' as a space), in the order given."""
    lowered = " " + re.sub(r"[^a-z0-9]+", " ", sentence.lower()) + " "
    return [n for n in names if f" {re.sub(r'[^a-z0-9]+', ' ', str(n).lower()).strip()} " in lowered]


CANDIDATES = {"graph": ("node-classification", "link-prediction"), "text": ("text-classification",),
              "table": ("xgboost-classification", "xgboost-regression")}


def by_rules(sentence: str, shape: DataShape, task: str | None = None, target: str | None = None,
             metric: str | None = None) -> Draft:
    """The plug-in, its options and the metric, by the rules of this module's docstring; `task`, `target` and
    `metric` (the LLM's choices, already checked against the candidates) replace the rules' where given."""
    if shape.kind == "graph":
        link = task == "link-prediction" if task else bool(
            re.search(r"\blinks?\b|\bedges?\b|link prediction", sentence.lower()))
        default = "cora" if "cora" in shape.datasets else shape.datasets[0]
        dataset = (mentioned(sentence, shape.datasets) or [default])[0]
        draft = Draft("link-prediction" if link else "node-classification", {"dataset": dataset},
                      choices=[f"task: {'the sentence asks for links' if link else 'a Planetoid graph'}",
                               f"dataset: {dataset} ({'named' if mentioned(sentence, shape.datasets) else 'found'})"])
    elif shape.kind == "text":
        label = next(c for c in shape.columns if c != shape.text_column) if len(shape.columns) > 1 else shape.columns[0]
        labels = sorted(str(v) for v in shape.frame[label].dropna().unique()) if shape.frame is not None else []
        options: dict[str, Any] = {"model_name": "minilm", "labels": labels}
        if shape.path.suffix in (".csv", ".tsv") or shape.path.is_dir() and shape.columns != ("label", "sentence"):
            options.update({"label_column": label, "text_column": shape.text_column})
        draft = Draft("text-classification", options,
                      choices=[f"task: texts in column {shape.text_column!r} with labels in {label!r}",
                               "model_name: minilm (the offline encoder; a hub id such as distilbert-base-uncased "
                               "where the hub is reachable)"])
    else:
        draft = _tabular(sentence, shape, task, target)
    _metric(sentence, draft, metric)
    if task or target or metric:
        given = (("task", task), ("target", target), ("metric", metric))
        draft.choices.append("the LLM chose: " + ", ".join(f"{k} {v}" for k, v in given if v))
    return draft


def _tabular(sentence: str, shape: DataShape, task: str | None, chosen: str | None) -> Draft:
    named = mentioned(sentence, shape.columns)
    conventional = [c for c in shape.columns if c.lower() in TARGET_NAMES]
    # The longest name the sentence holds: "sale price" names sale_price, not price.
    target = chosen or (max(named, key=len) if named else (conventional or [shape.columns[-1]])[0])
    why = ("the LLM's choice" if chosen else "named in the sentence" if named else "a conventional name"
           if conventional else "the last column")
    values = shape.frame[target].dropna()
    whole = values.dtype.kind in "iub" or values.dtype.kind == "f" and bool((values % 1 == 0).all())
    few = values.nunique() <= MAX_CLASSES
    regression_words = [w for w in REGRESSION_WORDS if w in sentence.lower()]
    classify = task == "xgboost-classification" if task else (whole or _textual(values)) and few and \
        not regression_words
    options: dict[str, Any] = {"target": target, "split_seed": 0}
    if classify and whole:
        options["labels"] = sorted(int(v) for v in values.unique())
    kind = (f"{values.nunique()} distinct {'whole ' if whole else ''}values in {len(values):,} rows read" +
            (f"; the sentence says {regression_words[0]!r}" if regression_words else ""))
    return Draft("xgboost-classification" if classify else "xgboost-regression", options,
                 choices=[f"target: {target} ({why})", f"{'classification' if classify else 'regression'}: {kind}"])


def _metric(sentence: str, draft: Draft, chosen: str | None = None) -> None:
    task = load_task(draft.task)
    assert isinstance(task, TaskPlugin)
    finals = [m for m in task.metrics if not m.startswith(("validation_", "test_", "train_", "best_"))]
    named = [chosen] if chosen in task.metrics else mentioned(
        sentence, [m for m in task.metrics if not m.startswith(("test_", "train_"))])
    metric = named[0] if named else task.default_objective.metric
    draft.metric = metric if metric in finals or metric.startswith("validation_") else task.default_objective.metric
    minimized = any(word in draft.metric for word in MINIMIZED)
    draft.direction = "minimize" if minimized else "maximize"
    draft.choices.append(f"objective: {draft.direction} {draft.metric} "
                         f"({'named in the sentence' if named else 'the plug-in default'})")


def spec_from(sentence: str, shape: DataShape, draft: Draft, name: str | None = None) -> dict[str, Any]:
    """The spec mapping (validated by the caller): the draft, the plug-in's default space, and a description
    made of the sentence and the dataset's profile."""
    task = load_task(draft.task)
    assert isinstance(task, TaskPlugin)
    study_name = name or re.sub(r"[^A-Za-z0-9._-]+", "-", shape.path.stem if shape.path.is_file() else shape.path.name)
    profile = task.profile(TrialContext(str(shape.path), draft.options)) if hasattr(task, "profile") else {}
    facts = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in profile.items() if not isinstance(v, dict | list))
    if shape.rows and "rows" not in profile:
        facts = f"{shape.rows:,} rows" + (f", {facts}" if facts else "")
    description = sentence.strip().rstrip(".") + ". " + task.description.strip()
    if facts:
        description += f" The data ({shape.path.name}): {facts}."
    return {"name": study_name.strip("-")[:128] or "study", "task": draft.task, "description": description,
            "data": str(shape.path.resolve()), "task_options": draft.options,
            "objective": {"metric": draft.metric, "direction": draft.direction},
            "space": task.default_space.to_json(), "budget": {"trials": 10, "max_failed_trials": 3}, "seed": 0}
