import io
import math
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import DATA, ROOT

from agenthpo.spec import load_spec
from agenthpo.tasks import TrialContext, load_task
from agenthpo.tasks.image_classification import build_model, make_splits, read_listing

CIFAR = DATA / "cifar10"
EXAMPLES = [ROOT / "examples" / "cifar10.yaml", ROOT / "examples" / "gpu" / "cifar10.yaml",
            ROOT / "examples" / "butterfly.yaml", ROOT / "examples" / "gpu" / "butterfly.yaml"]
SPACE = {"model", "global_pool", "drop_rate", "learning_rate", "weight_decay", "batch_size", "optimizer", "epochs"}
SMALL = {"model": "resnet18", "global_pool": "avgmax", "drop_rate": 0.1, "learning_rate": 0.05,
         "weight_decay": 5e-4, "batch_size": 32, "optimizer": "sgd", "epochs": 2}


@pytest.fixture(scope="module")
def cifar() -> Path:
    assert (CIFAR / "cifar10_train.zip").exists(), f"dataset missing: {CIFAR} (set AGENTHPO_DATA)"
    return CIFAR


def cifar_images(per_class: int, classes=("cat", "dog", "ship")) -> dict[str, list[bytes]]:
    """A few real CIFAR-10 JPEGs per class, for small data sets written to tmp_path."""
    with zipfile.ZipFile(CIFAR / "cifar10_train.zip") as archive:
        return {c: [archive.read(f"train/{c}/{i:04d}.jpg") for i in range(per_class)] for c in classes}


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def test_space_holds_table_2_params():
    task = load_task("image-classification")
    assert set(task.default_space.names) == SPACE
    assert task.default_objective.metric == "accuracy" and task.default_objective.maximize
    assert task.default_space.param("learning_rate").log and task.default_space.param("weight_decay").log
    assert set(task.default_space.param("model").choices) == {"resnet18", "resnet18d", "seresnet18", "skresnet18"}


@pytest.mark.slow
def test_trains_a_short_trial_on_cifar_with_curves(cifar):
    task = load_task("image-classification")
    ctx = TrialContext(str(cifar), {"max_train_samples": 96, "max_eval_samples": 32, "threads": 1}, seed=0)
    metrics = task.train(SMALL, ctx)
    assert set(metrics) <= set(task.metrics), "train() returns a metric it does not declare"
    assert set(ctx.curves) == {"train_loss", "train_accuracy", "validation_loss", "validation_accuracy"}
    assert [step for step, _ in ctx.curves["validation_accuracy"]] == [1, 2]
    assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["accuracy"] == metrics["validation_accuracy"]
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and math.isfinite(metrics["validation_loss"])
    assert metrics["train_images"] == 96


def test_new_data_without_test_split_is_carved_stratified_and_fixed(tmp_path):
    images = cifar_images(20)
    root = write_zip(tmp_path / "new.zip", {f"butterflies/{c}/{i}.jpg": data
                                            for c, items in images.items() for i, data in enumerate(items)})
    listing = read_listing(TrialContext(str(root)))
    assert set(listing["part"]) == {"train"} and sorted(listing["label"].unique()) == ["cat", "dog", "ship"]
    splits = make_splits(listing, {"validation_fraction": 0.2, "test_fraction": 0.1})
    assert splits.carved == ("test", "validation") and splits.classes == ["cat", "dog", "ship"]
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (42, 12, 6)
    assert splits.validation["label"].value_counts().to_dict() == {"cat": 4, "dog": 4, "ship": 4}
    parts = [set(getattr(splits, p)["relative"]) for p in ("train", "validation", "test")]
    assert not parts[0] & parts[1] and not parts[0] & parts[2] and not parts[1] & parts[2]
    again = make_splits(listing, {"validation_fraction": 0.2, "test_fraction": 0.1})
    assert list(again.validation["relative"]) == list(splits.validation["relative"])
    other = make_splits(listing, {"validation_fraction": 0.2, "test_fraction": 0.1, "split_seed": 1})
    assert list(other.validation["relative"]) != list(splits.validation["relative"])


def test_csv_listing_trains_and_profiles(tmp_path):
    rows = ["path,label"]
    for label, items in cifar_images(12).items():
        (tmp_path / "img").mkdir(exist_ok=True)
        for i, data in enumerate(items):
            (tmp_path / "img" / f"{label}{i}.jpg").write_bytes(data)
            rows.append(f"img/{label}{i}.jpg,{label}")
    listing = tmp_path / "listing.csv"
    listing.write_text("\n".join(rows) + "\n")
    task = load_task("image-classification")
    ctx = TrialContext(str(listing), {"threads": 1, "image_size": 16}, seed=0)
    profile = task.profile(ctx)
    assert profile["images_listed"] == {"train": 36, "validation": 0, "test": 0}
    assert profile["splits_carved_from_train"] == ["test", "validation"] and profile["classes"] == 3
    assert profile["image_sizes"] == {"32x32": 16} and profile["resized_to"] == 16
    metrics = task.train({**SMALL, "epochs": 1, "batch_size": 8}, ctx)
    assert 0.0 <= metrics["accuracy"] <= 1.0 and 0.0 <= metrics["test_accuracy"] <= 1.0
    assert [step for step, _ in ctx.curves["train_loss"]] == [1]


def test_small_input_stem_keeps_the_resolution():
    import torch

    for name in ("resnet18", "resnet18d"):
        model = build_model({**SMALL, "model": name}, 10, small_input_stem=True, pretrained=False)
        first = model.conv1 if isinstance(model.conv1, torch.nn.Conv2d) else model.conv1[0]
        assert first.stride == (1, 1) and isinstance(model.maxpool, torch.nn.Identity)
        features = model.forward_features(torch.zeros(2, 3, 32, 32))
        assert features.shape[-2:] == (4, 4)  # 1x1 with the ImageNet stem
    plain = build_model({**SMALL, "global_pool": "catavgmax"}, 7, small_input_stem=False, pretrained=False)
    assert plain(torch.zeros(2, 3, 32, 32)).shape == (2, 7)


@pytest.mark.slow
def test_contract_passes_on_cifar(cifar):
    reports = load_task("image-classification").check_data(TrialContext(str(cifar), {}))
    assert [r.table for r in reports] == ["image_files", "classes", "decoded_sample"]
    assert all(r.passed for r in reports), [r.failures for r in reports]
    assert reports[0].rows == 60000 and reports[1].rows == 10 and reports[2].rows == 400


def test_contract_rejects_a_broken_copy(tmp_path):
    images = cifar_images(6)
    files = {f"train/{c}/{i}.jpg": data for c, items in images.items() for i, data in enumerate(items)}
    files["test/cat/0.jpg"] = images["cat"][0]
    files["test/bird/0.jpg"] = images["dog"][1]  # a class no training image has
    files["train/dog/truncated.jpg"] = images["dog"][2][:200]
    from PIL import Image

    larger = io.BytesIO()
    Image.new("RGB", (64, 48)).save(larger, "JPEG")
    files["train/ship/larger.jpg"] = larger.getvalue()
    root = write_zip(tmp_path / "broken.zip", files)
    reports = {r.table: r for r in load_task("image-classification").check_data(TrialContext(str(root), {}))}
    assert reports["classes"].passed
    assert reports["image_files"].failures == (
        "expect_column_values_to_be_in_set(column='label', value_set=['cat', 'dog', 'ship']): "
        "1 unexpected value(s), e.g. ['bird']",)
    failures = "\n".join(reports["decoded_sample"].failures)
    assert "expect_column_values_to_be_in_set(column='decoded', value_set=[True]): 1 unexpected" in failures
    assert "expect_column_values_to_be_in_set(column='size', value_set=['32x32']): 1 unexpected value(s), " \
           "e.g. ['64x48']" in failures
    # With image_size set, images of other sizes are fine (they are resized).
    resized = load_task("image-classification").check_data(TrialContext(str(root), {"image_size": 32}))
    assert "size" not in "\n".join(resized[2].failures)


def test_contract_checks_a_csv_listing(tmp_path):
    rows = ["path,label,split"]
    for label, items in cifar_images(5).items():
        for i, data in enumerate(items):
            (tmp_path / f"{label}{i}.jpg").write_bytes(data)
            rows.append(f"{label}{i}.jpg,{label},{'test' if i == 4 else 'train'}")
    rows += [",cat,train", "cat0.jpg,,train", "dog0.jpg,dog,holdout", "gone.jpg,cat,train"]
    (tmp_path / "listing.csv").write_text("\n".join(rows) + "\n")
    reports = load_task("image-classification").check_data(TrialContext(str(tmp_path / "listing.csv")))
    files = "\n".join(reports[0].failures)
    assert "expect_column_values_to_not_be_null(column='path'): 1 unexpected" in files
    assert "expect_column_values_to_not_be_null(column='label'): 1 unexpected" in files
    assert "expect_column_values_to_be_in_set(column='part', value_set=['train', 'validation', 'test']): " \
           "1 unexpected value(s), e.g. ['holdout']" in files
    assert reports[2].failures == ("expect_column_values_to_be_in_set(column='decoded', value_set=[True]): "
                                   "1 unexpected value(s), e.g. [False]",)  # gone.jpg


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_example_specs_load_with_the_task_space(path):
    spec = load_spec(path)
    task = load_task(spec.task)
    assert spec.task == "image-classification" and spec.objective == task.default_objective
    assert set(spec.space.names) == set(task.default_space.names)
    assert Path(spec.data).exists(), spec.data
    assert spec.proposer.name == "agent" and spec.budget.trials == 10 and spec.budget.max_failed_trials == 3
    gpu = path.parent.name == "gpu"
    assert ("max_train_samples" in spec.task_options) is not gpu
    assert spec.space.param("epochs").high <= (60 if gpu else 2)


@pytest.mark.parametrize(("options", "message"), [
    ({"max_train_samples": -3}, r"task_options.max_train_samples: -3 must be an integer >= 1"),
    ({"image_size": "big"}, r"task_options.image_size: 'big' must be an integer >= 8"),
    ({"validation_fraction": 1.5}, r"task_options.validation_fraction: 1.5 must be a number in \(0, 1\)"),
    ({"augment": "yes"}, r"task_options.augment: 'yes' must be true or false"),
    ({"validation_fraction": 0.5, "test_fraction": 0.45}, r"leave under 10% of the images for training"),
])
def test_bad_options_are_clear_errors(tmp_path, options, message):
    images = cifar_images(3)
    root = write_zip(tmp_path / "d.zip", {f"{c}/{i}.jpg": data for c, items in images.items()
                                          for i, data in enumerate(items)})
    with pytest.raises(ValueError, match=message):
        load_task("image-classification").train(SMALL, TrialContext(str(root), options))


def test_missing_or_unusable_data_is_a_clear_error(tmp_path):
    task = load_task("image-classification")
    with pytest.raises(ValueError, match=r"data path '/no/such/images' does not exist"):
        task.profile(TrialContext("/no/such/images"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"no image files found"):
        task.check_data(TrialContext(str(tmp_path / "empty")))
    (tmp_path / "listing.csv").write_text("file,class\na.jpg,cat\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['path', 'label'\]"):
        task.profile(TrialContext(str(tmp_path / "listing.csv")))


def test_import_does_not_import_torch():
    code = "import sys, agenthpo.tasks.image_classification; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
