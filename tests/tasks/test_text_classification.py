"""The text-classification plug-in: SST-2 folders and generic tables, its data contract, specs and options."""

import subprocess
import sys

import pytest
from conftest import DATA, ROOT

from agenthpo.spec import load_spec
from agenthpo.tasks import TrialContext, load_task
from agenthpo.tasks.text_classification import TEXT_CLASSIFICATION, class_list, load_splits

SST2 = DATA / "sst2"
TABLE_2 = ["learning_rate", "batch_size", "epochs", "weight_decay", "warmup_ratio", "dropout"]
PARAMS = {"learning_rate": 1e-4, "batch_size": 16, "epochs": 1, "weight_decay": 0.01, "warmup_ratio": 0.1,
          "dropout": 0.1}
EXAMPLES = ["sst2.yaml", "gpu/sst2.yaml", "ecommerce-text.yaml", "gpu/ecommerce-text.yaml"]
CURVES = {"train_loss", "validation_loss", "validation_accuracy"}
# Product descriptions of three categories, the shape of the paper's "Ecommerce" data (string labels).
PRODUCTS = {
    "Books": ["a gripping novel in paperback", "the author's new hardcover history", "a children's picture book"],
    "Electronics": ["wireless earbuds with charging case", "a usb-c laptop charger", "4k television with hdmi"],
    "Household": ["non-stick frying pan set", "cotton bath towels, pack of six", "a stainless steel kettle"],
}


@pytest.fixture(scope="module")
def sst2():
    assert (SST2 / "train.tsv").exists(), f"dataset missing: {SST2} (shared/data beside the repository)"
    return SST2


def write_products(path, rows_per_class=20, header="description,category"):
    lines = [header] if header else []
    for category, texts in PRODUCTS.items():
        lines += [f'"{texts[i % len(texts)]}, item {i}",{category}' for i in range(rows_per_class)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def tiny_distilbert(tmp_path_factory):
    """A randomly initialised one-layer DistilBERT saved as a local model folder (the hub's layout)."""
    from transformers import AutoModel, AutoTokenizer, DistilBertConfig

    from agenthpo.tasks.hf_models import minilm_path

    folder = tmp_path_factory.mktemp("tiny-distilbert")
    AutoModel.from_config(DistilBertConfig(dim=32, n_layers=1, n_heads=2, hidden_dim=64,
                                           max_position_embeddings=64)).save_pretrained(folder)
    AutoTokenizer.from_pretrained(minilm_path()).save_pretrained(folder)
    return folder


def test_registry_and_table_2_space():
    task = load_task("text-classification")
    assert task is TEXT_CLASSIFICATION and task.default_objective.metric == "accuracy"
    assert task.default_space.names == TABLE_2
    assert task.default_space.param("learning_rate").log and task.default_space.param("weight_decay").log
    assert task.default_space.param("batch_size").kind == "ordinal"


@pytest.mark.slow
def test_minilm_fine_tunes_on_a_slice_of_sst2_with_curves(sst2):
    ctx = TrialContext(str(sst2), {"model_name": "minilm", "labels": [0, 1], "max_train_samples": 64,
                                   "max_eval_samples": 32, "max_length": 32, "threads": 1}, seed=0)
    metrics = TEXT_CLASSIFICATION.train({**PARAMS, "epochs": 2}, ctx)
    assert set(metrics) <= set(TEXT_CLASSIFICATION.metrics), "train() returns a metric it does not declare"
    assert set(ctx.curves) == CURVES
    assert all([step for step, _ in ctx.curves[name]] == [1, 2] for name in CURVES)
    assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["accuracy"] == metrics["validation_accuracy"]
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["validation_loss"] > 0


@pytest.mark.slow
def test_evaluations_per_epoch_report_an_epoch_in_parts(sst2):
    """Step (epoch - 1) * k + part: a pruner can stop a trial inside an epoch, at the same share of the data
    in every trial."""
    ctx = TrialContext(str(sst2), {"model_name": "minilm", "labels": [0, 1], "max_train_samples": 64,
                                   "max_eval_samples": 16, "max_length": 16, "threads": 1,
                                   "evaluations_per_epoch": 3}, seed=0)
    metrics = TEXT_CLASSIFICATION.train({**PARAMS, "epochs": 2, "batch_size": 16}, ctx)
    assert [step for step, _ in ctx.curves["validation_accuracy"]] == [1, 2, 3, 4, 5, 6]
    assert metrics["accuracy"] == ctx.curves["validation_accuracy"][-1][1]


@pytest.mark.slow
def test_a_generic_table_with_string_labels_trains_a_local_distilbert(tmp_path, tiny_distilbert):
    table = write_products(tmp_path / "products.csv")
    options = {"model_name": str(tiny_distilbert), "text_column": "description", "label_column": "category",
               "max_length": 16, "threads": 1}
    ctx = TrialContext(str(table), options, seed=0)
    profile = TEXT_CLASSIFICATION.profile(ctx)
    assert profile["classes"] == ["Books", "Electronics", "Household"]
    assert profile["sizes"] == {"train": 48, "validation": 6, "test": 6}
    assert profile["class_shares"] == {"Books": 0.333, "Electronics": 0.333, "Household": 0.333}
    metrics = TEXT_CLASSIFICATION.train({**PARAMS, "epochs": 2, "learning_rate": 1e-3}, ctx)
    assert [step for step, _ in ctx.curves["validation_accuracy"]] == [1, 2]
    assert metrics["accuracy"] in {i / 6 for i in range(7)} and "test_accuracy" in metrics


def test_single_table_split_is_fixed_stratified_and_disjoint(tmp_path):
    table = write_products(tmp_path / "products.csv")
    ctx = TrialContext(str(table), {"text_column": "description", "label_column": "category"}, seed=5)
    first, again = load_splits(ctx), load_splits(TrialContext(str(table), ctx.options, seed=9))
    assert first == again
    assert sorted(first["validation"].labels) == ["Books", "Books", "Electronics", "Electronics", "Household",
                                                  "Household"]
    texts = [set(part.texts) for part in first.values()]
    assert not texts[0] & texts[1] and not texts[0] & texts[2] and not texts[1] & texts[2]
    # `labels` fixes the class ids' order.
    ordered = TrialContext(str(table), {**ctx.options, "labels": ["Household", "Books", "Electronics"]})
    assert class_list(ordered, load_splits(ordered)) == ["Household", "Books", "Electronics"]


@pytest.mark.slow
def test_contract_passes_on_sst2_and_rejects_broken_copies(sst2, tmp_path):
    reports = TEXT_CLASSIFICATION.check_data(TrialContext(str(sst2), {"labels": [0, 1]}))
    assert [(r.table, r.rows, r.passed) for r in reports] == [("train.tsv", 67349, True), ("dev.tsv", 872, True),
                                                              ("test.tsv", 1821, True)]

    broken = tmp_path / "sst2-broken"
    broken.mkdir()
    head = (sst2 / "train.tsv").read_text().splitlines()[:300]
    (broken / "train.tsv").write_text("\n".join(head + ["2\tan impossible label", "1\t"]) + "\n")
    (broken / "dev.tsv").write_text("label\tcontent\n1\tfine\n")
    train, dev = TEXT_CLASSIFICATION.check_data(TrialContext(str(broken), {"labels": [0, 1]}))
    assert train.failures == (
        "expect_column_values_to_be_in_set(column='label', value_set=['0', '1']): 1 unexpected value(s), "
        "e.g. ['2'] at data row(s) [300]",  # the header and 299 rows before it
        "expect_column_values_to_not_be_null(column='sentence'): 1 unexpected value(s), e.g. [nan] at data row(s) "
        "[301]",
    )
    assert dev.failures == ("expect_table_row_count_to_be_between(min_value=10): observed 1",)

    table = write_products(tmp_path / "products.csv")
    (missing,) = TEXT_CLASSIFICATION.check_data(TrialContext(str(table), {"text_column": "review",
                                                                          "label_column": "category"}))
    assert missing.failures == ("expect_column_to_exist(column='review')",)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_specs_name_this_task_and_its_space(name):
    spec = load_spec(ROOT / "examples" / name)
    assert spec.task == "text-classification" and spec.objective == TEXT_CLASSIFICATION.default_objective
    assert spec.space.names == TABLE_2
    for param in spec.space:
        plug_in = TEXT_CLASSIFICATION.default_space.param(param.name)
        assert type(param) is type(plug_in)
        if param.kind in ("float", "int"):
            assert plug_in.low <= param.low <= param.high <= plug_in.high, f"{name}: {param.name} leaves the range"
    assert spec.task_options["model_name"] == "minilm"
    assert ("max_train_samples" in spec.task_options) == ("/gpu/" not in f"/{name}")


@pytest.mark.parametrize(("options", "message"), [
    ({"max_train_samples": -3}, r"task_options.max_train_samples: -3 must be an integer >= 1"),
    ({"max_length": 0}, r"task_options.max_length: 0 must be an integer >= 1"),
    ({"model_name": "EMPTY"}, r"task_options.model_name='.*empty-model' cannot be loaded"),
])
def test_bad_training_options_are_clear_errors(tmp_path, options, message):
    table = write_products(tmp_path / "products.csv")
    (tmp_path / "empty-model").mkdir()
    if options.get("model_name") == "EMPTY":  # a local folder that holds no model
        options = {"model_name": str(tmp_path / "empty-model")}
    ctx = TrialContext(str(table), {"text_column": "description", "label_column": "category",
                                    "model_name": "minilm", **options})
    with pytest.raises(ValueError, match=message):
        TEXT_CLASSIFICATION.train(PARAMS, ctx)


@pytest.mark.parametrize(("options", "message"), [
    ({"text_column": "review"}, r"task_options.text_column='review' is not a column of .*products.csv"),
    ({"label_column": 7}, r"task_options.label_column=7 is not a column"),
    ({"delimiter": ";;"}, r"task_options.delimiter: ';;' must be a string of one character"),
    ({"header": "yes"}, r"task_options.header: 'yes' must be true or false"),
    ({"labels": "Books,Electronics"}, r"task_options.labels: 'Books,Electronics' must be a list of at least one label"),
    ({"labels": ["Books", "Electronics"]}, r"the train split has label\(s\) \['Household'\] outside the classes"),
    ({"validation_fraction": 0.7}, r"task_options.validation_fraction: 0.7 must be a number in \(0, 0.5\)"),
])
def test_bad_data_options_are_clear_errors(tmp_path, options, message):
    table = write_products(tmp_path / "products.csv")
    ctx = TrialContext(str(table), {"text_column": "description", "label_column": "category", **options})
    with pytest.raises(ValueError, match=message):
        TEXT_CLASSIFICATION.profile(ctx)


def test_missing_data_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"data='.*nowhere' does not exist"):
        TEXT_CLASSIFICATION.profile(TrialContext(str(tmp_path / "nowhere"), {}))
    (tmp_path / "train.tsv").write_text("label\tsentence\n0\tbad\n")
    with pytest.raises(ValueError, match=r"has no validation file \(looked for \['dev.tsv'"):
        TEXT_CLASSIFICATION.check_data(TrialContext(str(tmp_path), {}))


def test_length_batches_cover_every_text_once_in_a_seeded_order():
    import torch

    from agenthpo.tasks.hf_models import length_batches, pad_batch

    lengths = [(7 * i) % 23 + 1 for i in range(1000)]
    batches = length_batches(lengths, 16, torch.Generator().manual_seed(0))
    assert sorted(i for batch in batches for i in batch) == list(range(1000))
    assert len(batches) == 63 and sum(len(b) < 16 for b in batches) == 1
    # Texts of similar length share a batch: little padding.
    assert sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) < 63 * 3
    assert batches == length_batches(lengths, 16, torch.Generator().manual_seed(0))
    assert batches != length_batches(lengths, 16, torch.Generator().manual_seed(1))
    ids, mask = pad_batch([[5, 6, 7], [8]], pad_id=0, device=torch.device("cpu"))
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]


def test_importing_the_plug_in_imports_no_torch():
    code = ("import sys, agenthpo.tasks.text_classification\n"
            "heavy = [m for m in ('torch', 'transformers', 'great_expectations') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_label_sentence_lines_are_read_and_a_bad_line_is_named(tmp_path):
    lines = [f"{'__label__pos' if i % 2 else 'neg'} review number {i} is {'good' if i % 2 else 'bad'}"
             for i in range(40)]
    lines[5] = "pos\ttab separated text"
    lines.insert(10, "")  # a blank line is skipped
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "dev.txt").write_text("pos fine\nneg dull\nunsure\n")
    ctx = TrialContext(str(tmp_path), {"labels": ["neg", "pos"], "min_rows": 2})
    splits = load_splits(ctx)
    assert len(splits["train"].texts) == 40 and splits["train"].labels[:2] == ["neg", "pos"]
    assert splits["train"].texts[1] == "review number 1 is good" and splits["train"].texts[5] == "tab separated text"
    train, dev = TEXT_CLASSIFICATION.check_data(ctx)
    assert train.passed
    assert dev.failures == (
        "expect_column_values_to_be_in_set(column='label', value_set=['neg', 'pos']): 1 unexpected value(s), "
        "e.g. ['unsure'] at data row(s) [3]",
        "expect_column_values_to_not_be_null(column='sentence'): 1 unexpected value(s), e.g. [None] at data "
        "row(s) [3]")
