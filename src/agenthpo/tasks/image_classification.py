"""Image classification with timm ResNet-18 variants, trained from scratch (the paper's CIFAR-10 and Butterfly tasks).

`data` is an image folder `<root>/<class>/<image>`, a zip with that layout, a folder of such zips
(CIFAR-10 here: `train/<class>/NNNN.jpg` and `test/<class>/NNNN.jpg`), or a CSV listing `path,label`
(optional `split` column; paths relative to the CSV). A folder named train / val(id|idation) / test
above the class folders marks a predefined split. A split the data lacks is carved from the training
images, stratified and seeded by split_seed (never by the trial seed), so every trial sees the same
images: the "new data" case of the paper. The objective is accuracy on the validation split; test
accuracy is recorded beside it. Images are kept in memory as uint8 and augmented on the device
(random crop with padding, horizontal flip); the learning rate follows a cosine decay over the run.

Task options (all optional) are declared in `ImageClassificationTask.options`, each with its rule, default
and help: the split (split_seed, validation_fraction, test_fraction), the CPU variants' caps
(max_train_samples, max_eval_samples), image_size, small_input_stem, augment, pretrained, device, threads.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agenthpo.space import CategoricalParam, FloatParam, IntParam, OrdinalParam, Scalar, SearchSpace
from agenthpo.tasks.base import TaskPlugin, TrialContext
from agenthpo.tasks.caps import split_caps
from agenthpo.tasks.contracts import ContractReport, expect, validate_frame
from agenthpo.tasks.data import subset
from agenthpo.tasks.images import (
    PARTS,
    SPLIT_FOLDERS,
    ImageFile,
    decode,
    describe,
    existing_path,
    image_reader,
    list_image_files,
    stratified_carve,
)
from agenthpo.tasks.options import SPLIT_SEED, SUBSET_OPTIONS, TORCH_OPTIONS, Option, at_least, fraction
from agenthpo.trial import Objective

NAME = "image-classification"
MODELS = ("resnet18", "resnet18d", "seresnet18", "skresnet18")
GLOBAL_POOLS = ("avg", "max", "avgmax", "catavgmax")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
DATA_LAYOUT = "an image folder <root>/<class>/<image>, a zip of one, a folder of such zips, or a CSV of path,label"
# The contract decodes this many images per split: enough to catch bad files, seconds to run.
CONTRACT_SAMPLE = 200
# Image modes that convert faithfully to RGB.
IMAGE_MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "YCbCr")
# Smallest sensible dataset: a train, a validation and a test image of two classes, and then some.
MIN_IMAGES = 10

VALIDATION_FRACTION = Option("validation_fraction", float, 0.1, fraction(1.0),
                             "share of all images carved from train for validation, when the data has no such split")
TEST_FRACTION = Option("test_fraction", float, 0.1, fraction(1.0),
                       "share of all images carved from train for test, when the data has no such split")
IMAGE_SIZE = Option("image_size", int, None, at_least(8),
                    "resize every image to image_size x image_size (default: the images' own, common size)")
SMALL_INPUT_STEM = Option("small_input_stem", bool, False,
                          help="a stride-1 stem without max-pooling, the usual adaptation to 32x32 images")
AUGMENT = Option("augment", bool, True, help="random crop with padding and horizontal flip in training")
PRETRAINED = Option("pretrained", bool, False, help="start from timm's pretrained weights (needs a download)")


@dataclass(frozen=True)
class Splits:
    """The images of each split (listing rows) and the class names, in label-index order."""

    classes: list[str]
    train: Any
    validation: Any
    test: Any
    carved: tuple[str, ...]


def read_listing(ctx: TrialContext):
    """One row per image: relative, path, archive, label, part (as the data defines them)."""
    import pandas as pd

    root = existing_path(ctx.data, NAME, DATA_LAYOUT)
    if root.suffix.lower() == ".csv":
        return _csv_listing(root)
    files = list_image_files(root)
    if not files:
        raise ValueError(f"{root}: no image files found (expected {DATA_LAYOUT})")
    rows = []
    for image in files:
        parts = image.parts
        if len(parts) < 2:
            raise ValueError(f"{root}: image {image.relative!r} is not inside a class folder (expected {DATA_LAYOUT})")
        # The nearest split folder above the class folder, if any, names the split.
        part = next((SPLIT_FOLDERS[p.lower()] for p in reversed(parts[:-2]) if p.lower() in SPLIT_FOLDERS),
                    "train")
        rows.append({"relative": image.relative, "path": image.path, "archive": image.archive, "label": parts[-2],
                     "part": part})
    return pd.DataFrame(rows)


def _csv_listing(csv_path: Path):
    import pandas as pd

    frame = pd.read_csv(csv_path, dtype=str)
    missing = [c for c in ("path", "label") if c not in frame.columns]
    if missing:
        raise ValueError(f"{csv_path}: missing column(s) {missing} (a CSV listing needs path,label[,split]; "
                         f"it has {list(frame.columns)})")
    parts = frame["split"] if "split" in frame.columns else pd.Series("train", index=frame.index)
    return pd.DataFrame({
        "relative": frame["path"],
        "path": [str((csv_path.parent / p).resolve()) if isinstance(p, str) else None for p in frame["path"]],
        "archive": None,
        "label": frame["label"],
        "part": [SPLIT_FOLDERS.get(str(p).strip().lower(), p) for p in parts],
    })


def make_splits(listing, options: Mapping[str, Any]) -> Splits:
    """The fixed train / validation / test images, carving the splits the data lacks from train."""
    split_seed = SPLIT_SEED.read(options)
    unknown_parts = sorted(set(listing["part"].astype(str)) - set(PARTS))
    if unknown_parts:
        raise ValueError(f"split value(s) {unknown_parts} are not one of {list(PARTS)} (or their aliases)")
    for column in ("label", "path"):
        if listing[column].isna().any():
            raise ValueError(f"{int(listing[column].isna().sum())} image(s) have no {column}")
    parts = {part: listing[listing["part"] == part].reset_index(drop=True) for part in PARTS}
    if parts["train"].empty:
        raise ValueError("the data has no training images")
    carved = tuple(part for part in ("test", "validation") if parts[part].empty)
    shares = {"test": TEST_FRACTION.read(options), "validation": VALIDATION_FRACTION.read(options)}
    fractions = {part: shares[part] for part in carved}
    if sum(fractions.values()) >= 0.9:
        given = " + ".join(f"task_options.{part}_fraction={value}" for part, value in fractions.items())
        raise ValueError(f"{given} leave under 10% of the images for training")
    total = len(parts["train"])
    for part in carved:
        # Fractions are of all the images: the second carve takes a larger share of what the first left.
        share = fractions[part] * total / len(parts["train"])
        kept, taken = stratified_carve(parts["train"]["label"], share, split_seed)
        parts[part] = parts["train"].iloc[taken].reset_index(drop=True)
        parts["train"] = parts["train"].iloc[kept].reset_index(drop=True)
    classes = sorted(parts["train"]["label"].unique())
    for part in ("validation", "test"):
        strangers = sorted(set(parts[part]["label"]) - set(classes))
        if strangers:
            raise ValueError(f"{part} images have label(s) {strangers[:5]} that no training image has")
    for part, cap in split_caps(options).items():
        if cap is not None:
            rows = subset(list(range(len(parts[part]))), cap, split_seed)
            parts[part] = parts[part].iloc[rows].reset_index(drop=True)
    return Splits(classes, parts["train"], parts["validation"], parts["test"], carved)


def load_pixels(rows, image_size: int | None, reader):
    """uint8 pixels (N, H, W, 3) of the listed images; without image_size they must share one size."""
    import numpy as np

    size = (image_size, image_size) if image_size else None
    arrays = []
    for image, _ in _files(rows):
        try:
            arrays.append(decode(reader.read(image), "RGB", size))
        except (OSError, KeyError, SyntaxError) as exc:
            raise ValueError(f"cannot read image {image.relative!r}: {exc}") from None
    shapes = Counter(a.shape for a in arrays)
    if len(shapes) > 1:
        (common, _), (other, _) = shapes.most_common(2)
        raise ValueError(f"images differ in size ({common[1]}x{common[0]} and {other[1]}x{other[0]}): "
                         f"set task_options.image_size")
    return np.stack(arrays)


class ImageClassificationTask(TaskPlugin):
    name = NAME
    late_imports = ("torch",)
    options = (SPLIT_SEED, VALIDATION_FRACTION, TEST_FRACTION, *SUBSET_OPTIONS, IMAGE_SIZE,
               SMALL_INPUT_STEM, AUGMENT, PRETRAINED, *TORCH_OPTIONS)
    metrics = ("accuracy", "validation_accuracy", "validation_loss", "test_accuracy", "test_loss", "train_images",
               "parameters", "chance_accuracy")
    default_objective = Objective("accuracy", "maximize")
    # The paper's Table 2 parameters for ResNet-18 image classification; the ranges are ours.
    default_space = SearchSpace([
        CategoricalParam("model", MODELS),
        CategoricalParam("global_pool", GLOBAL_POOLS),
        FloatParam("drop_rate", 0.0, 0.5),
        FloatParam("learning_rate", 1e-4, 0.2, log=True),
        FloatParam("weight_decay", 1e-6, 1e-2, log=True),
        OrdinalParam("batch_size", (32, 64, 128, 256)),
        CategoricalParam("optimizer", OPTIMIZERS),
        IntParam("epochs", 5, 60),
    ])
    # The standard CIFAR ResNet recipe (SGD 0.1, weight decay 5e-4, batches of 128).
    param_defaults = {"model": "resnet18", "global_pool": "avg", "drop_rate": 0.0, "learning_rate": 0.1,
                      "weight_decay": 5e-4, "batch_size": 128, "optimizer": "sgd", "epochs": 30}
    description = ("A ResNet-18 variant from timm (resnet18, resnet18d with a deep stem, seresnet18 with "
                   "squeeze-and-excitation, skresnet18 with selective kernels) trained from scratch with "
                   "random-crop and flip augmentation and a cosine learning-rate decay; objective: top-1 "
                   "accuracy on the validation split.")

    def profile(self, ctx: TrialContext) -> dict[str, Any]:
        """Split sizes, classes and their shares, image sizes: the Creator's view of the data."""
        listing = read_listing(ctx)
        splits = make_splits(listing, ctx.options)
        shares = listing.loc[listing["part"] == "train", "label"].value_counts(normalize=True)
        with image_reader() as reader:
            described = [describe(reader.read(image)) for image, _ in _files(splits.train.head(16))]
        return {
            "images_listed": {part: int((listing["part"] == part).sum()) for part in PARTS},
            "images_used": {"train": len(splits.train), "validation": len(splits.validation),
                            "test": len(splits.test)},
            "splits_carved_from_train": list(splits.carved),
            "classes": len(splits.classes),
            "train_class_shares": {str(k): round(float(v), 3) for k, v in shares.sort_index().head(50).items()},
            "image_sizes": dict(Counter(f"{d['width']}x{d['height']}" for d in described)),
            "image_modes": dict(Counter(str(d["mode"]) for d in described)),
            "resized_to": ctx.option(IMAGE_SIZE),
        }

    def check_data(self, ctx: TrialContext) -> list[ContractReport]:
        """The listing (labels, splits), the classes (enough images each) and a decoded sample of each split."""
        import pandas as pd

        listing = read_listing(ctx)
        seed = ctx.option(SPLIT_SEED)
        classes = sorted(listing.loc[listing["part"] == "train", "label"].dropna().unique())
        files_report = validate_frame("image_files", listing[["path", "label", "part"]], [
            expect("table_row_count_to_be_between", min_value=MIN_IMAGES),
            expect("column_values_to_not_be_null", column="path"),
            expect("column_values_to_not_be_null", column="label"),
            expect("column_values_to_not_be_null", column="part"),
            expect("column_values_to_be_in_set", column="part", value_set=list(PARTS)),
            expect("column_values_to_be_in_set", column="label", value_set=classes),
        ])
        counts = listing[listing["part"] == "train"].groupby("label").size()
        classes_report = validate_frame("classes", pd.DataFrame({"label": counts.index,
                                                                 "train_images": counts.to_numpy()}), [
            expect("table_row_count_to_be_between", min_value=2),
            # A class needs two images to give one to a carved validation split.
            expect("column_values_to_be_between", column="train_images", min_value=2),
        ])
        rows = []
        with image_reader() as reader:
            for part in PARTS:
                readable = listing[(listing["part"] == part) & listing["path"].notna()]
                chosen = subset(_files(readable), CONTRACT_SAMPLE, seed)
                for image, label in chosen:
                    try:
                        data = reader.read(image)
                    except (OSError, KeyError):
                        data = b""
                    info = describe(data)
                    rows.append({"image": image.relative, "part": part, "label": label, **info,
                                 "size": f"{info['width']}x{info['height']}" if info["decoded"] else None})
        sample_frame = pd.DataFrame(rows, columns=["image", "part", "label", "decoded", "width", "height", "mode",
                                                   "size"])
        sample_expectations = [
            expect("column_values_to_be_in_set", column="decoded", value_set=[True]),
            expect("column_values_to_be_in_set", column="mode", value_set=list(IMAGE_MODES)),
            expect("column_values_to_be_between", column="width", min_value=8, max_value=10000),
            expect("column_values_to_be_between", column="height", min_value=8, max_value=10000),
        ]
        if ctx.option(IMAGE_SIZE) is None and sample_frame["size"].notna().any():
            # Without image_size every image must have the same size (that of most images).
            common = sample_frame["size"].mode().iloc[0]
            sample_expectations.append(expect("column_values_to_be_in_set", column="size", value_set=[common]))
        sample_report = validate_frame("decoded_sample", sample_frame, sample_expectations)
        return [files_report, classes_report, sample_report]

    def train(self, params: Mapping[str, Scalar], ctx: TrialContext) -> dict[str, float]:
        import numpy as np
        import torch

        from agenthpo.tasks.torch_support import check_finite, make_optimizer, prepare

        device = prepare(ctx)
        augment, small_stem = ctx.option(AUGMENT), ctx.option(SMALL_INPUT_STEM)
        pretrained, image_size = ctx.option(PRETRAINED), ctx.option(IMAGE_SIZE)
        epochs, batch_size = int(params["epochs"]), int(params["batch_size"])
        if epochs < 1 or batch_size < 1:
            raise ValueError(f"epochs={epochs} and batch_size={batch_size} must both be >= 1")
        splits = make_splits(read_listing(ctx), ctx.options)
        index = {label: i for i, label in enumerate(splits.classes)}
        with image_reader() as reader:
            pixels = {part: load_pixels(getattr(splits, part), image_size, reader) for part in PARTS}
        labels = {part: torch.tensor([index[label] for label in getattr(splits, part)["label"]], device=device)
                  for part in PARTS}
        images = {part: torch.from_numpy(array).to(device) for part, array in pixels.items()}
        mean, std = _channel_stats(pixels["train"], device)

        model = build_model(params, len(splits.classes), small_stem, pretrained).to(device)
        if device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        optimizer = make_optimizer(str(params["optimizer"]), model.parameters(), float(params["learning_rate"]),
                                   float(params["weight_decay"]))
        n_train = len(labels["train"])
        steps_per_epoch = max(n_train // batch_size, 1)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch)
        generator = torch.Generator().manual_seed(ctx.seed)
        loss_fn = torch.nn.CrossEntropyLoss()

        validation: dict[str, float] = {}
        for epoch in range(1, epochs + 1):
            model.train()
            # Whole batches only: a last batch of one image breaks BatchNorm; the next epoch reshuffles.
            order = torch.randperm(n_train, generator=generator)
            total_loss, correct = 0.0, 0
            for step in range(steps_per_epoch):
                batch = order[step * batch_size:(step + 1) * batch_size].to(device)
                inputs = _normalise(images["train"][batch], mean, std)
                if augment:
                    inputs = _augment(inputs, generator)
                with _autocast(device):
                    logits = model(inputs)
                    loss = loss_fn(logits.float(), labels["train"][batch])
                check_finite(loss, epoch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                total_loss += loss.item() * len(batch)
                correct += int((logits.argmax(1) == labels["train"][batch]).sum())
            seen = steps_per_epoch * batch_size if n_train >= batch_size else n_train
            validation = _evaluate(model, images["validation"], labels["validation"], mean, std, device)
            ctx.report(epoch, train_loss=total_loss / seen, train_accuracy=correct / seen,
                       validation_loss=validation["loss"], validation_accuracy=validation["accuracy"])
        test = _evaluate(model, images["test"], labels["test"], mean, std, device)
        return {"accuracy": validation["accuracy"], "validation_accuracy": validation["accuracy"],
                "validation_loss": validation["loss"], "test_accuracy": test["accuracy"], "test_loss": test["loss"],
                "train_images": float(n_train), "parameters": float(sum(p.numel() for p in model.parameters())),
                "chance_accuracy": float(np.max(np.bincount(labels["validation"].cpu().numpy()))
                                         / len(labels["validation"]))}


def _files(rows) -> list[tuple[ImageFile, str]]:
    """(image, label) of listing rows; pandas turns a missing archive (a plain file) into NaN."""
    return [(ImageFile(r.relative, r.path, r.archive if isinstance(r.archive, str) else None), r.label)
            for r in rows.itertuples()]


def build_model(params: Mapping[str, Scalar], num_classes: int, small_input_stem: bool, pretrained: bool):
    """The timm model; with small_input_stem its first convolution keeps the resolution and max-pooling goes."""
    import timm
    from torch import nn

    model = timm.create_model(str(params["model"]), pretrained=pretrained, num_classes=num_classes,
                              global_pool=str(params["global_pool"]), drop_rate=float(params["drop_rate"]))
    if small_input_stem:
        # 32x32 images shrink to 1x1 before the last stage with ImageNet's stride-4 stem.
        first = model.conv1 if isinstance(model.conv1, nn.Conv2d) else model.conv1[0]
        first.stride = (1, 1)
        model.maxpool = nn.Identity()
    return model


def _channel_stats(train_pixels, device):
    """Per-channel mean and std of (up to 1000) training images, for input normalisation."""
    import torch

    some = torch.from_numpy(train_pixels[:1000]).float().reshape(-1, 3)
    mean, std = some.mean(0), some.std(0).clamp_min(1.0)
    return mean.view(1, 3, 1, 1).to(device), std.view(1, 3, 1, 1).to(device)


def _normalise(batch, mean, std):
    """uint8 (B, H, W, C) to normalised float (B, C, H, W)."""
    return (batch.permute(0, 3, 1, 2).float() - mean) / std


def _augment(batch, generator):
    """A random crop of the image padded by 1/8 of its side, and a horizontal flip, per image."""
    import torch

    n, _, height, width = batch.shape
    pad = max(height // 8, 1)
    padded = torch.nn.functional.pad(batch, (pad, pad, pad, pad), mode="reflect")
    dy = torch.randint(0, 2 * pad + 1, (n, 1), generator=generator).to(batch.device)
    dx = torch.randint(0, 2 * pad + 1, (n, 1), generator=generator).to(batch.device)
    rows = (dy + torch.arange(height, device=batch.device))[:, :, None]
    cols = (dx + torch.arange(width, device=batch.device))[:, None, :]
    cropped = padded[torch.arange(n, device=batch.device)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)
    flip = (torch.rand(n, generator=generator) < 0.5).to(batch.device)
    return torch.where(flip[:, None, None, None], cropped.flip(3), cropped)


def _autocast(device):
    import contextlib

    import torch

    # bfloat16 on CUDA roughly doubles throughput and needs no loss scaling; CPUs train in float32.
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()


def _evaluate(model, images, labels, mean, std, device) -> dict[str, float]:
    import torch

    model.eval()
    total_loss, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(labels), 512):
            inputs = _normalise(images[start:start + 512], mean, std)
            with _autocast(device):
                logits = model(inputs).float()
            target = labels[start:start + 512]
            total_loss += float(torch.nn.functional.cross_entropy(logits, target, reduction="sum"))
            correct += int((logits.argmax(1) == target).sum())
    return {"loss": total_loss / len(labels), "accuracy": correct / len(labels)}


IMAGE_CLASSIFICATION = ImageClassificationTask()
