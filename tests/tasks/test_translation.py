"""The translation plug-in: a random tiny T5 and a local pretrained folder, its data contract, specs and options."""

import gzip
import math
import subprocess
import sys

import pytest
from conftest import DATA, ROOT

from agenthpo.spec import load_spec
from agenthpo.tasks import TrialContext, load_task
from agenthpo.tasks.translation import TRANSLATION, default_prefix, load_pairs, train_tokenizer
from agenthpo.trial import Objective

MULTI30K = DATA / "multi30k-en-fr"
TABLE_2 = ["learning_rate", "batch_size", "epochs", "weight_decay", "warmup_ratio", "label_smoothing", "dropout_rate"]
PARAMS = {"learning_rate": 3e-3, "batch_size": 16, "epochs": 2, "weight_decay": 0.01, "warmup_ratio": 0.0,
          "label_smoothing": 0.1, "dropout_rate": 0.1}
TINY_T5 = {"d_model": 32, "d_ff": 64, "d_kv": 16, "num_heads": 2, "num_layers": 1, "num_decoder_layers": 1}
SMALL = {"max_train_samples": 200, "max_eval_samples": 16, "max_length": 24, "threads": 1}
EXAMPLES = ["translation.yaml", "gpu/translation.yaml"]
CURVES = {"train_loss", "validation_loss", "validation_bleu"}


@pytest.fixture(scope="module")
def multi30k():
    assert (MULTI30K / "train.en.gz").exists(), f"dataset missing: {MULTI30K} (shared/data beside the repository)"
    return MULTI30K


def lines(path, count):
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [next(handle).rstrip("\n") for _ in range(count)]


def write_split(folder, stem, english, french):
    for language, sentences in (("en", english), ("fr", french)):
        with gzip.open(folder / f"{stem}.{language}.gz", "wt", encoding="utf-8") as handle:
            handle.write("".join(f"{s}\n" for s in sentences))


@pytest.fixture
def small_copy(multi30k, tmp_path):
    """train (100 pairs) and val (30 pairs) from Multi30k, gzipped like the original; no test split."""
    folder = tmp_path / "pairs"
    folder.mkdir()
    write_split(folder, "train", lines(multi30k / "train.en.gz", 100), lines(multi30k / "train.fr.gz", 100))
    write_split(folder, "val", lines(multi30k / "val.en.gz", 30), lines(multi30k / "val.fr.gz", 30))
    return folder


def test_registry_and_table_2_space():
    task = load_task("translation")
    assert task is TRANSLATION and task.default_objective == Objective("bleu", "maximize")
    assert task.default_space.names == TABLE_2
    assert task.default_space.param("learning_rate").log and task.default_space.param("weight_decay").log
    assert task.default_space.param("batch_size").kind == "ordinal"


@pytest.mark.slow
def test_a_tiny_random_t5_trains_on_a_slice_of_multi30k_with_curves(multi30k):
    ctx = TrialContext(str(multi30k), {"model_config": TINY_T5, "tokenizer_vocab_size": 300, **SMALL}, seed=0)
    metrics = TRANSLATION.train(PARAMS, ctx)
    assert set(metrics) <= set(TRANSLATION.metrics), "train() returns a metric it does not declare"
    assert set(ctx.curves) == CURVES
    assert all([step for step, _ in ctx.curves[name]] == [1, 2] for name in CURVES)
    losses = [loss for _, loss in ctx.curves["train_loss"]]
    assert losses[1] < losses[0], f"training did not lower the loss: {losses}"
    assert math.isfinite(metrics["bleu"]) and 0.0 <= metrics["bleu"] <= 100.0
    assert metrics["bleu"] == metrics["validation_bleu"] and 0.0 <= metrics["test_bleu"] <= 100.0


@pytest.mark.slow
def test_a_pretrained_t5_folder_loads_with_its_tokenizer_and_prefix(small_copy, tmp_path):
    from transformers import T5Config, T5ForConditionalGeneration

    pairs = load_pairs(TrialContext(str(small_copy)))["train"]
    tokenizer = train_tokenizer(pairs.sources + pairs.targets, 200)
    folder = tmp_path / "tiny-t5"
    T5ForConditionalGeneration(T5Config(**TINY_T5, vocab_size=len(tokenizer), decoder_start_token_id=0)
                               ).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    ctx = TrialContext(str(small_copy), {"model_name": str(folder), **SMALL, "max_new_tokens": 8}, seed=0)
    assert default_prefix(ctx, pretrained=True) == "translate English to French: "
    metrics = TRANSLATION.train({**PARAMS, "epochs": 1}, ctx)
    assert [step for step, _ in ctx.curves["validation_bleu"]] == [1]
    assert 0.0 <= metrics["bleu"] <= 100.0 and "test_bleu" not in metrics


@pytest.mark.slow
def test_contract_passes_on_multi30k_and_rejects_a_broken_copy(multi30k, small_copy):
    reports = TRANSLATION.check_data(TrialContext(str(multi30k)))
    assert [(r.rows, r.passed) for r in reports] == [(29000, True), (1014, True), (1000, True)]
    assert reports[0].table == "train pairs train.en.gz | train.fr.gz"

    english, french = lines(small_copy / "train.en.gz", 100), lines(small_copy / "train.fr.gz", 100)
    english[3] = ""
    write_split(small_copy, "train", english, french[:95])
    train, validation = TRANSLATION.check_data(TrialContext(str(small_copy)))
    # The french file stops 5 lines early; one english line is empty.
    assert len(train.failures) == 2
    assert train.failures[0].startswith("expect_column_values_to_not_be_null(column='target_words'): "
                                        "5 unexpected value(s)")
    assert train.failures[1].startswith("expect_column_values_to_be_between(column='source_words', min_value=1): "
                                        "1 unexpected value(s)")
    assert validation.passed

    (small_copy / "val.fr.gz").write_bytes((small_copy / "val.fr.gz").read_bytes()[:40])
    with pytest.raises(ValueError, match=r"cannot read .*val.fr.gz"):
        TRANSLATION.check_data(TrialContext(str(small_copy)))


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_specs_name_this_task_and_its_space(name):
    spec = load_spec(ROOT / "examples" / name)
    assert spec.task == "translation" and spec.objective == TRANSLATION.default_objective
    assert spec.space.names == TABLE_2
    for param in spec.space:
        plug_in = TRANSLATION.default_space.param(param.name)
        assert type(param) is type(plug_in)
        if param.kind in ("float", "int"):
            assert plug_in.low <= param.low <= param.high <= plug_in.high, f"{name}: {param.name} leaves the range"
    assert "model_config" in spec.task_options and "model_name" not in spec.task_options
    assert ("max_train_samples" in spec.task_options) == (name == "translation.yaml")


@pytest.mark.parametrize(("options", "message"), [
    ({"max_train_samples": -3}, r"task_options.max_train_samples: -3 must be an integer >= 1"),
    ({"num_beams": 0}, r"task_options.num_beams: 0 must be an integer >= 1"),
    ({"max_length": "long"}, r"task_options.max_length: 'long' must be an integer >= 1"),
    ({"model_config": {**TINY_T5, "vocab_size": 100}}, r"model_config has field\(s\) \['vocab_size'\]"),
    ({"model_config": {**TINY_T5, "d_modle": 64}}, r"model_config has field\(s\) \['d_modle'\]"),
    ({"model_config": TINY_T5, "model_name": "t5-small"}, r"model_name and task_options.model_config exclude"),
    ({"model_config": [32, 1]}, r"task_options.model_config: \[32, 1\] must be a mapping"),
    ({"model_name": "EMPTY"}, r"task_options.model_name='.*empty-model' cannot be loaded"),
])
def test_bad_training_options_are_clear_errors(small_copy, tmp_path, options, message):
    if options.get("model_name") == "EMPTY":  # a local folder that holds no model
        (tmp_path / "empty-model").mkdir()
        options = {"model_name": str(tmp_path / "empty-model")}
    ctx = TrialContext(str(small_copy), {"model_config": TINY_T5, **options} if "model_name" not in options
                       else options)
    with pytest.raises(ValueError, match=message):
        TRANSLATION.train(PARAMS, ctx)


def test_bad_data_is_named(small_copy, tmp_path):
    with pytest.raises(ValueError, match=r"data='.*nowhere' is not a folder"):
        TRANSLATION.profile(TrialContext(str(tmp_path / "nowhere")))
    with pytest.raises(ValueError, match=r"task_options.source_lang: '' must be a language code"):
        TRANSLATION.profile(TrialContext(str(small_copy), {"source_lang": ""}))
    with pytest.raises(ValueError, match=r"pairs/train.de\[.gz\] does not exist \(train split\)"):
        TRANSLATION.profile(TrialContext(str(small_copy), {"target_lang": "de"}))
    with pytest.raises(ValueError, match=r"pairs/test.en\[.gz\] does not exist \(test split\)"):
        TRANSLATION.profile(TrialContext(str(small_copy), {"test_split": "test"}))
    write_split(small_copy, "val", ["one", "two"], ["un"])
    with pytest.raises(ValueError, match=r"val.en.gz has 2 lines but .*val.fr.gz has 1: the validation files are "
                                         r"not aligned"):
        TRANSLATION.profile(TrialContext(str(small_copy)))


def test_profile_describes_the_pairs(multi30k):
    profile = TRANSLATION.profile(TrialContext(str(multi30k), {"model_config": TINY_T5, "max_train_samples": 3000}))
    assert profile["pairs"] == {"train": 29000, "validation": 1014, "test": 1000}
    assert profile["trained_and_evaluated_on"] == {"train": 3000, "validation": 1014, "test": 1000}
    assert profile["source_words"]["max"] == 37 and profile["target_words"]["max"] == 43
    assert profile["model"]["randomly_initialised_t5"] == TINY_T5


def test_importing_the_plug_in_imports_no_torch():
    code = ("import sys, agenthpo.tasks.translation\n"
            "heavy = [m for m in ('torch', 'transformers', 'tokenizers', 'sacrebleu', 'great_expectations') "
            "if m in sys.modules]\nassert not heavy, heavy\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
