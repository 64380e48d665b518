"""Machine translation with T5 (transformers `T5ForConditionalGeneration`): the paper's Opus Books en-fr task.

The model is trained with teacher forcing (label-smoothed cross-entropy, AdamW, linear warmup then decay)
and judged by corpus BLEU (sacrebleu) of its greedy or beam-search translations of the validation split;
test BLEU is recorded beside it. Two ways to get a model:
  - `model_name`: a pretrained T5 (hub id or local folder) with its own tokenizer; the paper fine-tunes t5-small.
  - `model_config`: T5Config fields of a randomly initialised T5, for machines without the hub. Its
    tokenizer is a Unigram model (T5's kind) trained on the training sentences with T5's special tokens.
    A tiny random T5 trained for minutes reaches a low BLEU: it is a working stand-in, not t5-small.

Data (`data`): a folder of aligned text files, one sentence a line, optionally gzipped, named
`<split>.<language>[.gz]`; the splits default to Multi30k's names (train, val, test_2016_flickr).

Task options (all optional) are declared in `TranslationTask.options`, each with its rule, default and help:
model_name | model_config (with tokenizer_vocab_size), source_lang / target_lang, train_split /
validation_split / test_split (file name stems), source_prefix, max_train_samples / max_eval_samples /
split_seed (seeded subsets), max_length, max_new_tokens, num_beams, min_rows, device, threads.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agenthpo.space import FloatParam, IntParam, OrdinalParam, Scalar, SearchSpace
from agenthpo.tasks.base import TaskPlugin, TrialContext
from agenthpo.tasks.caps import split_caps
from agenthpo.tasks.contracts import ContractReport, expect, validate_frame
from agenthpo.tasks.data import capped, subset
from agenthpo.tasks.hf_models import (
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
from agenthpo.tasks.options import SPLIT_SEED, SUBSET_OPTIONS, TORCH_OPTIONS, Option, at_least, matching, not_empty
from agenthpo.trial import Objective

if TYPE_CHECKING:
    import torch

DEFAULT_MODEL = "t5-small"
# The paper's Table 2 parameters for T5 fine-tuning. The learning-rate range spans fine-tuning a
# pretrained T5 (about 1e-4) and training a small one from scratch (about 1e-3).
PARAMS = [
    FloatParam("learning_rate", 1e-5, 1e-2, log=True),
    OrdinalParam("batch_size", (8, 16, 32, 64)),
    IntParam("epochs", 1, 10),
    FloatParam("weight_decay", 1e-5, 0.1, log=True),
    FloatParam("warmup_ratio", 0.0, 0.2),
    FloatParam("label_smoothing", 0.0, 0.2),
    FloatParam("dropout_rate", 0.0, 0.3),
]
_DEFAULT_SPLITS = {"train": "train", "validation": "val", "test": "test_2016_flickr"}
# T5's own special tokens and ids, so a trained tokenizer fits T5's conventions (pad starts decoding).
_PAD, _EOS, _UNK = "<pad>", "</s>", "<unk>"
# The languages T5 was pretrained to translate between, for its task prefix.
_LANGUAGES = {"en": "English", "fr": "French", "de": "German", "ro": "Romanian"}
_EVAL_BATCH_SIZE = 64
# Whole-word length ratios outside this range mark a pair as suspect (Multi30k's extremes are 0.5 and 2.4).
_RATIO_RANGE = (0.2, 5.0)

MODEL_NAME = Option("model_name", str, None, not_empty(),
                    f"a pretrained T5: hub id or local folder (default {DEFAULT_MODEL}; not with model_config)")
MODEL_CONFIG = Option("model_config", dict, None, help="T5Config fields of a randomly initialised T5, e.g. "
                      "{d_model: 128, num_layers: 2}, with a tokenizer trained on the data (not with model_name)")
TOKENIZER_VOCAB_SIZE = Option("tokenizer_vocab_size", int, 8000, at_least(16),
                              "the vocabulary of the tokenizer trained for model_config")
_LANGUAGE_CODE = matching(r"[^/]+", "a language code such as 'en'")
SOURCE_LANG = Option("source_lang", str, "en", _LANGUAGE_CODE, "the source language's file suffix")
TARGET_LANG = Option("target_lang", str, "fr", _LANGUAGE_CODE, "the target language's file suffix")
TRAIN_SPLIT = Option("train_split", str, _DEFAULT_SPLITS["train"], not_empty(), "the training files' name stem")
VALIDATION_SPLIT = Option("validation_split", str, _DEFAULT_SPLITS["validation"], not_empty(),
                          "the validation files' name stem")
TEST_SPLIT = Option("test_split", str, None, not_empty(), f"the test files' name stem (default "
                    f"{_DEFAULT_SPLITS['test']}, skipped when absent; a stem given here must exist)")
SOURCE_PREFIX = Option("source_prefix", str, None, help="put before every source sentence (default: 'translate "
                       "English to French: ' for a pretrained T5, nothing for a random one)")
MAX_LENGTH = Option("max_length", int, 128, at_least(1), "tokens per sentence after truncation")
MAX_NEW_TOKENS = Option("max_new_tokens", int, None, at_least(1), "longest generated translation (default max_length)")
NUM_BEAMS = Option("num_beams", int, 1, at_least(1), "beam-search width (1: greedy)")
MIN_ROWS = Option("min_rows", int, 10, at_least(1), "the contract's smallest split")


@dataclass(frozen=True)
class Pairs:
    sources: list[str]
    targets: list[str]

    def take(self, rows: Sequence[int]) -> Pairs:
        return Pairs([self.sources[i] for i in rows], [self.targets[i] for i in rows])


@dataclass(frozen=True)
class EncodedPairs:
    sources: list[list[int]]
    targets: list[list[int]]
    references: list[str]


def _stems(ctx: TrialContext) -> dict[str, str]:
    return {"train": ctx.option(TRAIN_SPLIT), "validation": ctx.option(VALIDATION_SPLIT),
            "test": ctx.option(TEST_SPLIT) or _DEFAULT_SPLITS["test"]}


def _find(folder: Path, stem: str, language: str) -> Path | None:
    for name in (f"{stem}.{language}.gz", f"{stem}.{language}"):
        if (folder / name).is_file():
            return folder / name
    return None


def split_files(ctx: TrialContext) -> dict[str, tuple[Path, Path]]:
    """(source file, target file) of train, validation and, when present, test."""
    if not ctx.data:
        raise ValueError("task 'translation' needs `data`: a folder of aligned <split>.<language>[.gz] files")
    folder = Path(ctx.data)
    if not folder.is_dir():
        raise ValueError(f"data={ctx.data!r} is not a folder")
    source_lang, target_lang = ctx.option(SOURCE_LANG), ctx.option(TARGET_LANG)
    files = {}
    for split, stem in _stems(ctx).items():
        found = (_find(folder, stem, source_lang), _find(folder, stem, target_lang))
        # The default test split is optional; a named one, and train and validation, are not.
        if found == (None, None) and split == "test" and ctx.option(TEST_SPLIT) is None:
            continue
        for path, language in zip(found, (source_lang, target_lang), strict=True):
            if path is None:
                raise ValueError(f"{folder / f'{stem}.{language}'}[.gz] does not exist ({split} split)")
        files[split] = found
    return files


def read_lines(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            return [line.rstrip("\r\n") for line in handle]
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None


def load_pairs(ctx: TrialContext) -> dict[str, Pairs]:
    splits = {}
    for split, (source_path, target_path) in split_files(ctx).items():
        sources, targets = read_lines(source_path), read_lines(target_path)
        if len(sources) != len(targets):
            raise ValueError(f"{source_path} has {len(sources)} lines but {target_path} has {len(targets)}: "
                             f"the {split} files are not aligned")
        if not sources:
            raise ValueError(f"{source_path} is empty")
        splits[split] = Pairs(sources, targets)
    return splits


def model_config_option(ctx: TrialContext) -> dict[str, Any] | None:
    config = ctx.option(MODEL_CONFIG)
    if config is None:
        return None
    if ctx.option(MODEL_NAME) is not None:
        raise ValueError("task_options.model_name and task_options.model_config exclude each other: "
                         "a pretrained T5 or a randomly initialised one")
    from transformers import T5Config

    known = set(T5Config().to_dict())
    # The tokenizer fixes these; the dropout comes from the trial's dropout_rate.
    owned = {"vocab_size", "pad_token_id", "eos_token_id", "decoder_start_token_id", "dropout_rate"}
    wrong = sorted((set(config) - known) | (set(config) & owned))
    if wrong:
        raise ValueError(f"task_options.model_config has field(s) {wrong} that are not settable T5Config "
                         f"fields here (vocab_size follows tokenizer_vocab_size; dropout_rate is searched)")
    return config


def default_prefix(ctx: TrialContext, pretrained: bool) -> str:
    prefix = ctx.option(SOURCE_PREFIX)
    if prefix is not None:
        return prefix
    names = [_LANGUAGES.get(ctx.option(SOURCE_LANG)), _LANGUAGES.get(ctx.option(TARGET_LANG))]
    if pretrained and all(names):
        return f"translate {names[0]} to {names[1]}: "
    return ""


def train_tokenizer(texts: list[str], vocab_size: int):
    """A Unigram tokenizer over both languages with T5's special tokens (pad 0, eos 1, unk 2) that ends
    every sequence with </s>, wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=[_PAD, _EOS, _UNK], unk_token=_UNK,
                                      show_progress=False)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(single=f"$A {_EOS}",
                                                             special_tokens=[(_EOS, tokenizer.token_to_id(_EOS))])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token=_PAD, eos_token=_EOS, unk_token=_UNK)


class TranslationTask(TaskPlugin):
    name = "translation"
    late_imports = ("torch", "transformers", "transformers.modeling_utils")  # the last: 3.4 s, at the first model
    options = (MODEL_NAME, MODEL_CONFIG, TOKENIZER_VOCAB_SIZE, SOURCE_LANG, TARGET_LANG, TRAIN_SPLIT, VALIDATION_SPLIT,
               TEST_SPLIT, SOURCE_PREFIX, *SUBSET_OPTIONS, SPLIT_SEED, MAX_LENGTH, MAX_NEW_TOKENS,
               NUM_BEAMS, MIN_ROWS, *TORCH_OPTIONS)
    metrics = ("bleu", "train_loss", "validation_loss", "validation_bleu", "test_loss", "test_bleu")
    default_objective = Objective("bleu", "maximize")
    default_space = SearchSpace(PARAMS)
    # T5 fine-tuning as Hugging Face's examples do it (AdamW 3e-4, T5's own dropout 0.1, no label smoothing).
    param_defaults = {"learning_rate": 3e-4, "batch_size": 16, "epochs": 3, "weight_decay": 0.01,
                      "warmup_ratio": 0.0, "label_smoothing": 0.0, "dropout_rate": 0.1}
    description = ("T5 encoder-decoder transformer (t5-small in the paper; offline a small randomly initialised "
                   "T5 with a tokenizer trained on the data) trained with label-smoothed cross-entropy, AdamW and "
                   "linear warmup; objective: corpus BLEU of its translations of the validation split.")

    def profile(self, ctx: TrialContext) -> dict[str, Any]:
        """Pair counts, sentence lengths and vocabulary sizes in words, and the model, for the Creator."""
        splits = load_pairs(ctx)
        train = splits["train"]
        caps = split_caps(ctx.options)

        def words(sentences: list[str]) -> dict[str, float]:
            counts = np.array([len(s.split()) for s in sentences])
            return {"mean": round(float(counts.mean()), 1), "p95": int(np.percentile(counts, 95)),
                    "max": int(counts.max())}

        profile: dict[str, Any] = {
            "pairs": {split: len(pairs.sources) for split, pairs in splits.items()},
            "trained_and_evaluated_on": {split: capped(len(p.sources), caps[split]) for split, p in splits.items()},
            "languages": [ctx.option(SOURCE_LANG), ctx.option(TARGET_LANG)],
            "source_words": words(train.sources), "target_words": words(train.targets),
            "source_vocabulary_words": len({w for s in train.sources for w in s.lower().split()}),
            "target_vocabulary_words": len({w for s in train.targets for w in s.lower().split()}),
            "max_length_tokens": ctx.option(MAX_LENGTH), "num_beams": ctx.option(NUM_BEAMS),
        }
        config = ctx.option(MODEL_CONFIG)
        if config is not None:
            profile["model"] = {"randomly_initialised_t5": config,
                                "tokenizer_vocab_size": ctx.option(TOKENIZER_VOCAB_SIZE)}
        else:
            profile["model"] = ctx.option(MODEL_NAME) or DEFAULT_MODEL
        return profile

    def check_data(self, ctx: TrialContext) -> list[ContractReport]:
        """One describing table per split, a row per sentence pair (source_words, target_words, their
        ratio): both files have every line (aligned), no empty sentence, plausible length ratios, enough pairs."""
        import pandas as pd

        min_rows = ctx.option(MIN_ROWS)
        reports = []
        for split, (source_path, target_path) in split_files(ctx).items():
            source_words = pd.Series([len(s.split()) for s in read_lines(source_path)], dtype="Int64")
            target_words = pd.Series([len(s.split()) for s in read_lines(target_path)], dtype="Int64")
            # A file that stops early leaves its column missing (null) on the rows it lacks.
            frame = pd.DataFrame({"source_words": source_words, "target_words": target_words})
            frame["length_ratio"] = (frame["target_words"] / frame["source_words"].where(frame["source_words"] > 0)
                                     ).astype("Float64")
            expectations = [
                expect("table_row_count_to_be_between", min_value=min_rows),
                expect("column_values_to_not_be_null", column="source_words"),
                expect("column_values_to_not_be_null", column="target_words"),
                expect("column_values_to_be_between", column="source_words", min_value=1),
                expect("column_values_to_be_between", column="target_words", min_value=1),
                expect("column_values_to_be_between", column="length_ratio", min_value=_RATIO_RANGE[0],
                       max_value=_RATIO_RANGE[1], mostly=0.99),
            ]
            reports.append(validate_frame(f"{split} pairs {source_path.name} | {target_path.name}", frame,
                                          expectations))
        return reports

    def train(self, params: Mapping[str, Scalar], ctx: TrialContext) -> dict[str, float]:
        import torch

        from agenthpo.tasks.torch_support import make_optimizer, prepare

        device = prepare(ctx)
        max_length = ctx.option(MAX_LENGTH)
        max_new_tokens = ctx.option(MAX_NEW_TOKENS) or max_length
        num_beams, split_seed, caps = ctx.option(NUM_BEAMS), ctx.option(SPLIT_SEED), split_caps(ctx.options)
        splits = load_pairs(ctx)
        used = {split: pairs.take(subset(range(len(pairs.sources)), capped(len(pairs.sources), caps[split]),
                                         split_seed))
                for split, pairs in splits.items()}

        tokenizer, model, prefix = self._load_model(ctx, used["train"], float(params["dropout_rate"]))
        model.to(device)

        def encode(pairs: Pairs) -> EncodedPairs:
            sources = tokenizer([prefix + s for s in pairs.sources], truncation=True, max_length=max_length)
            targets = tokenizer(pairs.targets, truncation=True, max_length=max_length)
            return EncodedPairs(sources["input_ids"], targets["input_ids"], pairs.targets)

        encoded = {split: encode(pairs) for split, pairs in used.items()}
        train = encoded["train"]
        pad_id = tokenizer.pad_token_id
        smoothing = float(params["label_smoothing"])
        batch_size, epochs = int(params["batch_size"]), int(params["epochs"])
        weight_decay = float(params["weight_decay"])
        optimizer = make_optimizer("adamw", decay_groups(model, weight_decay), float(params["learning_rate"]),
                                   weight_decay)
        scheduler = warmup_schedule(optimizer, float(params["warmup_ratio"]),
                                    epochs * math.ceil(len(train.sources) / batch_size))
        generator = torch.Generator().manual_seed(ctx.seed)
        lengths = [len(s) + len(t) for s, t in zip(train.sources, train.targets, strict=True)]

        def loss_of(rows: list[int]) -> torch.Tensor:
            return pair_loss(model, train, rows, pad_id, device, smoothing)

        generation = {"max_new_tokens": max_new_tokens, "num_beams": num_beams, "do_sample": False}
        results: dict[str, float] = {}
        for epoch in range(1, epochs + 1):
            train_loss = train_epoch(model, length_batches(lengths, batch_size, generator), loss_of, optimizer,
                                     scheduler, epoch)
            validation_loss, validation_bleu = evaluate(model, tokenizer, encoded["validation"], device, generation)
            ctx.report(epoch, train_loss=train_loss, validation_loss=validation_loss, validation_bleu=validation_bleu)
            results = {"train_loss": train_loss, "validation_loss": validation_loss,
                       "validation_bleu": validation_bleu}
        if "test" in encoded:
            results["test_loss"], results["test_bleu"] = evaluate(model, tokenizer, encoded["test"], device,
                                                                  generation)
        results["bleu"] = results["validation_bleu"]
        return results

    def _load_model(self, ctx: TrialContext, train: Pairs, dropout_rate: float):
        """(tokenizer, model, source prefix): a pretrained T5, or a random one with a freshly trained tokenizer."""
        config = model_config_option(ctx)
        transformers = import_transformers()
        if config is not None:
            vocab_size = ctx.option(TOKENIZER_VOCAB_SIZE)
            tokenizer = train_tokenizer(train.sources + train.targets, vocab_size)
            t5_config = transformers.T5Config(**config, vocab_size=len(tokenizer), dropout_rate=dropout_rate,
                                              pad_token_id=tokenizer.pad_token_id,
                                              eos_token_id=tokenizer.eos_token_id,
                                              decoder_start_token_id=tokenizer.pad_token_id)
            return tokenizer, transformers.T5ForConditionalGeneration(t5_config), default_prefix(ctx, False)
        model_name = ctx.option(MODEL_NAME) or DEFAULT_MODEL
        source, kwargs = resolve_pretrained(model_name)
        try:
            # The model first: for a folder that holds no model its error is the clearest.
            model = transformers.T5ForConditionalGeneration.from_pretrained(source, dropout_rate=dropout_rate,
                                                                            **kwargs)
            tokenizer = transformers.AutoTokenizer.from_pretrained(source, **kwargs)
        except (OSError, ValueError) as exc:
            raise load_error(model_name, exc, "a random T5 (task_options.model_config)") from None
        return tokenizer, model, default_prefix(ctx, True)


def pair_loss(model, pairs: EncodedPairs, rows: list[int], pad_id: int, device: torch.device,
              smoothing: float = 0.0, reduction: str = "mean") -> torch.Tensor:
    """Teacher-forced cross-entropy of the target tokens (padding ignored), optionally label-smoothed."""
    import torch

    source, source_mask = pad_batch([pairs.sources[i] for i in rows], pad_id, device)
    labels, target_mask = pad_batch([pairs.targets[i] for i in rows], pad_id, device)
    labels = labels.masked_fill(target_mask == 0, -100)
    logits = model(input_ids=source, attention_mask=source_mask,
                   decoder_input_ids=model.prepare_decoder_input_ids_from_labels(labels=labels)).logits
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1),
                                             ignore_index=-100, label_smoothing=smoothing, reduction=reduction)


def evaluate(model, tokenizer, pairs: EncodedPairs, device: torch.device,
             generation: Mapping[str, Any]) -> tuple[float, float]:
    """(mean token cross-entropy without smoothing, corpus BLEU of the generated translations)."""
    import sacrebleu
    import torch

    model.eval()
    pad_id = tokenizer.pad_token_id
    loss_sum, tokens = 0.0, 0
    hypotheses = [""] * len(pairs.sources)
    with torch.no_grad():
        for rows in by_length([len(s) for s in pairs.sources], _EVAL_BATCH_SIZE):
            loss_sum += float(pair_loss(model, pairs, rows, pad_id, device, reduction="sum"))
            tokens += sum(len(pairs.targets[i]) for i in rows)
            source, source_mask = pad_batch([pairs.sources[i] for i in rows], pad_id, device)
            output = model.generate(input_ids=source, attention_mask=source_mask, **generation)
            for row, text in zip(rows, tokenizer.batch_decode(output, skip_special_tokens=True), strict=True):
                hypotheses[row] = text.strip()
    bleu = sacrebleu.corpus_bleu(hypotheses, [pairs.references]).score
    return loss_sum / tokens, float(bleu)


TRANSLATION = TranslationTask()
