import io
import math
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA, ROOT

from agenthpo.spec import load_spec
from agenthpo.tasks import TrialContext, load_task
from agenthpo.tasks.segmentation import IGNORE, build_enet, class_weights, confusion_scores, find_pairs

CAMVID = DATA / "camvid" / "camvid_segnet_jpg90.zip"
EXAMPLES = [ROOT / "examples" / "camvid.yaml", ROOT / "examples" / "gpu" / "camvid.yaml"]
SPACE = {"learning_rate", "weight_decay", "batch_size", "optimizer", "epochs", "lr_decay", "dropout"}
SMALL = {"learning_rate": 5e-3, "weight_decay": 2e-4, "batch_size": 4, "optimizer": "adam", "epochs": 2,
         "lr_decay": 0.95, "dropout": 0.1}


@pytest.fixture(scope="module")
def camvid() -> Path:
    assert CAMVID.exists(), f"dataset missing: {CAMVID} (set AGENTHPO_DATA)"
    return CAMVID


def camvid_files(camvid: Path, per_part: int) -> dict[str, bytes]:
    """The first images and masks of each split, under their SegNet-layout names."""
    with zipfile.ZipFile(camvid) as archive:
        names = archive.namelist()
        chosen = {}
        for folder in ("train", "val", "test"):
            stems = sorted(n.rsplit("/", 1)[1][:-4] for n in names if n.startswith(f"CamVid/{folder}/"))[:per_part]
            for stem in stems:
                chosen[f"{folder}/{stem}.jpg"] = archive.read(f"CamVid/{folder}/{stem}.jpg")
                chosen[f"{folder}annot/{stem}.png"] = archive.read(f"CamVid/{folder}annot/{stem}.png")
        return chosen


def png(array: np.ndarray) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(array.astype(np.uint8), mode="L").save(out, "PNG")
    return out.getvalue()


def test_space_holds_table_2_params():
    task = load_task("segmentation")
    assert set(task.default_space.names) == SPACE
    assert task.default_objective.metric == "miou" and task.default_objective.maximize
    assert task.default_space.param("learning_rate").log and task.default_space.param("weight_decay").log


def test_enet_is_faithful_and_takes_any_size():
    import torch

    model = build_enet(11, dropout=0.1)
    # The paper: 0.37M parameters.
    assert 350_000 < sum(p.numel() for p in model.parameters()) < 400_000
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert {c.dilation[0] for c in convs} == {1, 2, 4, 8, 16}
    assert {c.kernel_size for c in convs} >= {(5, 1), (1, 5), (2, 2), (3, 3), (1, 1)}
    assert sum(isinstance(m, torch.nn.MaxUnpool2d) for m in model.modules()) == 2
    dropouts = sorted({m.p for m in model.modules() if isinstance(m, torch.nn.Dropout2d)})
    assert dropouts == pytest.approx([0.01, 0.1])
    model.eval()
    with torch.no_grad():
        for height, width in ((90, 120), (45, 61)):
            assert model(torch.zeros(1, 3, height, width)).shape == (1, 11, height, width)


def test_class_weights_and_scores():
    masks = np.array([[[0, 0, 0, 1], [IGNORE, IGNORE, 0, 0]]], dtype=np.uint8)
    weights = class_weights(masks, 3)
    assert weights == pytest.approx([1 / math.log(1.02 + 5 / 6), 1 / math.log(1.02 + 1 / 6), 1 / math.log(1.02)])
    confusion = np.array([[3, 1, 0], [0, 2, 0], [0, 0, 0]])  # rows: truth; class 2 absent: not averaged
    scores = confusion_scores(confusion)
    assert scores["miou"] == pytest.approx((3 / 4 + 2 / 3) / 2) and scores["pixel_accuracy"] == pytest.approx(5 / 6)


def test_trains_a_short_trial_with_curves(camvid):
    task = load_task("segmentation")
    ctx = TrialContext(str(camvid), {"max_train_samples": 8, "max_eval_samples": 4, "image_size": [64, 48],
                                     "threads": 1}, seed=0)
    metrics = task.train(SMALL, ctx)
    assert set(metrics) <= set(task.metrics), "train() returns a metric it does not declare"
    assert set(ctx.curves) == {"train_loss", "validation_loss", "validation_miou", "validation_pixel_accuracy"}
    assert [step for step, _ in ctx.curves["validation_miou"]] == [1, 2]
    assert 0.0 <= metrics["miou"] <= 1.0 and metrics["miou"] == metrics["validation_miou"]
    assert 0.0 <= metrics["test_miou"] <= 1.0 and math.isfinite(metrics["validation_loss"])
    assert metrics["train_images"] == 8


def test_profile_describes_camvid(camvid):
    profile = load_task("segmentation").profile(TrialContext(str(camvid), {"scale": 0.25, "max_eval_samples": 50}))
    assert profile["images"] == {"train": 367, "validation": 101, "test": 233}
    assert profile["image_size"] == [480, 360] and profile["trained_at"] == [120, 90]
    assert profile["images_used"] == {"train": 367, "validation": 50, "test": 50}
    assert profile["classes"] == 11 and 0.2 < profile["class_pixel_shares"]["road"] < 0.4
    assert 0.0 < profile["void_pixel_share"] < 0.1


@pytest.mark.slow
def test_contract_passes_on_camvid(camvid):
    reports = load_task("segmentation").check_data(TrialContext(str(camvid), {}))
    assert [r.table for r in reports] == ["image_mask_pairs", "decoded_sample", "mask_values"]
    assert all(r.passed for r in reports), [r.failures for r in reports]
    assert reports[0].rows == 701 and reports[1].rows == 120 and reports[2].rows == 12


def test_contract_rejects_a_broken_copy(camvid, tmp_path):
    files = camvid_files(camvid, 3)
    stems = sorted(name for name in files if name.startswith("trainannot/"))
    mask = np.zeros((360, 480), dtype=np.uint8)
    mask[:10, :10] = 13  # no such class
    files[stems[0]] = png(mask)
    files[stems[1]] = png(np.zeros((90, 120)))  # not the image's size
    del files[stems[2]]  # an image without its mask
    root = tmp_path / "broken.zip"
    with zipfile.ZipFile(root, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    reports = {r.table: r for r in load_task("segmentation").check_data(TrialContext(str(root), {}))}
    assert reports["image_mask_pairs"].failures == (
        "expect_column_values_to_be_in_set(column='has_mask', value_set=[True]): 1 unexpected value(s), "
        "e.g. [False]",)
    assert reports["decoded_sample"].failures == (
        "expect_column_values_to_be_in_set(column='sizes_match', value_set=[True]): 1 unexpected value(s), "
        "e.g. [False]",)
    assert len(reports["mask_values"].failures) == 1
    assert reports["mask_values"].failures[0].startswith("expect_column_values_to_be_in_set(column='value'")
    assert reports["mask_values"].failures[0].endswith("1 unexpected value(s), e.g. [13]")
    pairs = find_pairs(TrialContext(str(root)))
    assert sum(p.mask is None for p in pairs) == 1 and {p.part for p in pairs} == {"train", "validation", "test"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_example_specs_load_with_the_task_space(path):
    spec = load_spec(path)
    task = load_task(spec.task)
    assert spec.task == "segmentation" and spec.objective == task.default_objective
    assert set(spec.space.names) == set(task.default_space.names)
    assert Path(spec.data).exists(), spec.data
    assert spec.proposer.name == "agent" and spec.budget.trials == 10 and spec.budget.max_failed_trials == 3
    gpu = path.parent.name == "gpu"
    assert ("max_train_samples" in spec.task_options) is not gpu
    assert spec.space.param("epochs").high <= (200 if gpu else 3)


@pytest.mark.parametrize(("options", "message"), [
    ({"image_size": [100]}, r"task_options.image_size: \[100\] must be a list of 2 integers >= 16"),
    ({"scale": 2}, r"task_options.scale: 2 must be a number in \(0, 1\]"),
    ({"scale": 0.5, "image_size": [64, 48]}, r"image_size and task_options.scale are alternatives"),
    ({"num_classes": 1}, r"task_options.num_classes: 1 must be an integer >= 2"),
    ({"max_eval_samples": 0}, r"task_options.max_eval_samples: 0 must be an integer >= 1"),
    ({"class_weighting": "on"}, r"task_options.class_weighting: 'on' must be true or false"),
])
def test_bad_options_are_clear_errors(camvid, options, message):
    with pytest.raises(ValueError, match=message):
        load_task("segmentation").train(SMALL, TrialContext(str(camvid), {"max_train_samples": 2, **options}))


def test_missing_data_is_a_clear_error(tmp_path):
    task = load_task("segmentation")
    with pytest.raises(ValueError, match=r"data path '/no/such/camvid.zip' does not exist"):
        task.check_data(TrialContext("/no/such/camvid.zip"))
    with pytest.raises(ValueError, match=r"needs `data`"):
        task.train(SMALL, TrialContext(None))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "a.png").write_bytes(png(np.zeros((4, 4))))
    with pytest.raises(ValueError, match=r"no images in split folders"):
        task.profile(TrialContext(str(tmp_path)))


def test_import_does_not_import_torch():
    code = "import sys, agenthpo.tasks.segmentation; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
