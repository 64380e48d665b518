"""Semantic segmentation with ENet (Paszke et al. 2016), trained from scratch (the paper's CityScapes task).

`data` is a zip or folder in the SegNet layout, as CamVid ships: `train/`, `val/`, `test/` images with
their label masks in `trainannot/`, `valannot/`, `testannot/` (same file stem, PNG masks whose pixel
values are class indices 0..num_classes-1, or void: num_classes, as in CamVid, or 255, as in
CityScapes' train ids; void is ignored). CamVid (11 classes, void = 11) stands in for CityScapes,
which is not available here; ENet's paper reports both.
The objective is the mean IoU over the classes on the validation split (over the whole split's
pixels); test mIoU is recorded beside it. The loss is cross-entropy with ENet's class weights
1 / ln(1.02 + p_class), p_class the class's share of the training pixels. Training flips images
horizontally; the learning rate decays by lr_decay after every epoch.

Task options (all optional) are declared in `SegmentationTask.options`, each with its rule, default and help:
image_size or scale (not both; masks are resized with nearest neighbours), the CPU variant's seeded subsets
(max_train_samples, max_eval_samples, split_seed), num_classes, class_weighting, augment, device, threads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

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
)
from agenthpo.tasks.options import SPLIT_SEED, SUBSET_OPTIONS, TORCH_OPTIONS, Option, at_least, between, list_of
from agenthpo.trial import Objective

NAME = "segmentation"
DATA_LAYOUT = "a zip or folder with train/, val/, test/ images and trainannot/, valannot/, testannot/ masks"
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
# CamVid as SegNet prepared it; the 12th value (11) is void.
CAMVID_CLASSES = ("sky", "building", "pole", "road", "pavement", "tree", "sign", "fence", "car", "pedestrian",
                  "bicyclist")
# Void pixels after loading: ignored by the loss and the metric.
IGNORE = 255
# ENet's class-weighting constant: weights stay within [1, 50] whatever the class balance.
WEIGHT_C = 1.02
# Image/mask pairs the contract decodes per split.
CONTRACT_SAMPLE = 40
MASK_SUFFIX = "annot"

IMAGE_SIZE = Option("image_size", list, None, list_of(int, 2, at_least(16)),
                    "[width, height] to resize images and masks to (default: the images' own size)")
SCALE = Option("scale", float, None, between(0.0, 1.0, high_open=False),
               "resize by this factor of the images' own size instead (not with image_size; default 1)")
NUM_CLASSES = Option("num_classes", int, len(CAMVID_CLASSES), at_least(2),
                     "the number of classes; the contract rejects mask values other than those and void")
CLASS_WEIGHTING = Option("class_weighting", bool, True, help="ENet's class weights 1 / ln(1.02 + p_class) in the loss")
AUGMENT = Option("augment", bool, True, help="random horizontal flips in training")


@dataclass(frozen=True)
class Pair:
    part: str
    stem: str
    image: ImageFile | None
    mask: ImageFile | None


def find_pairs(ctx: TrialContext) -> list[Pair]:
    """Every image and mask of the SegNet layout, matched by split and file stem (either may be missing)."""
    root = existing_path(ctx.data, NAME, DATA_LAYOUT)
    found: dict[tuple[str, str], dict[str, ImageFile]] = {}
    for file in list_image_files(root):
        parts = file.parts
        if len(parts) < 2:
            continue
        folder, stem = parts[-2].lower(), parts[-1].rsplit(".", 1)[0]
        kind = "mask" if folder.endswith(MASK_SUFFIX) else "image"
        part = SPLIT_FOLDERS.get(folder.removesuffix(MASK_SUFFIX))
        if part is not None:
            found.setdefault((part, stem), {})[kind] = file
    if not found:
        raise ValueError(f"{root}: no images in split folders (expected {DATA_LAYOUT})")
    return [Pair(part, stem, files.get("image"), files.get("mask")) for (part, stem), files in sorted(found.items())]


def capped_parts(pairs: list[Pair], ctx: TrialContext) -> dict[str, list[Pair]]:
    """The pairs of each split, as seeded subsets when max_train_samples / max_eval_samples are set."""
    split_seed = ctx.option(SPLIT_SEED)
    by_part = {part: [p for p in pairs if p.part == part] for part in PARTS}
    for part, cap in split_caps(ctx.options).items():
        if cap is not None:
            by_part[part] = subset(by_part[part], cap, split_seed)
    return by_part


def training_size(ctx: TrialContext, native: tuple[int, int]) -> tuple[int, int]:
    """(width, height) to train at, from image_size or scale, else the images' own."""
    size, scale = ctx.option(IMAGE_SIZE), ctx.option(SCALE)
    if size is not None and scale is not None:
        raise ValueError("task_options.image_size and task_options.scale are alternatives: give one")
    if size is not None:
        return size[0], size[1]
    scale = 1.0 if scale is None else scale
    return max(int(round(native[0] * scale)), 16), max(int(round(native[1] * scale)), 16)


@dataclass(frozen=True)
class Arrays:
    images: np.ndarray  # uint8 (N, H, W, 3)
    masks: np.ndarray  # uint8 (N, H, W): class indices, IGNORE for void


def load_arrays(pairs: list[Pair], size: tuple[int, int], num_classes: int, reader) -> Arrays:
    images, masks = [], []
    for pair in pairs:
        if pair.image is None or pair.mask is None:
            missing = "mask" if pair.mask is None else "image"
            raise ValueError(f"{pair.part} image {pair.stem!r} has no {missing}")
        images.append(decode(reader.read(pair.image), "RGB", size))
        mask = decode(reader.read(pair.mask), None, size, nearest=True)
        if mask.ndim != 2:
            raise ValueError(f"mask of {pair.stem!r} has {mask.shape[-1]} channels: it must hold one class per pixel")
        masks.append(np.where(mask < num_classes, mask, IGNORE).astype(np.uint8))
    return Arrays(np.stack(images), np.stack(masks))


def class_weights(masks: np.ndarray, num_classes: int) -> np.ndarray:
    """ENet's weighting 1 / ln(c + p_class) over the training pixels that are not void."""
    counts = np.bincount(masks[masks != IGNORE].ravel(), minlength=num_classes)[:num_classes].astype(float)
    shares = counts / max(counts.sum(), 1.0)
    return 1.0 / np.log(WEIGHT_C + shares)


class SegmentationTask(TaskPlugin):
    name = NAME
    late_imports = ("torch",)
    options = (IMAGE_SIZE, SCALE, *SUBSET_OPTIONS, SPLIT_SEED, NUM_CLASSES, CLASS_WEIGHTING,
               AUGMENT, *TORCH_OPTIONS)
    metrics = ("miou", "train_images", "parameters",
               *(f"{part}_{score}" for part in ("validation", "test") for score in ("loss", "miou", "pixel_accuracy")))
    default_objective = Objective("miou", "maximize")
    # The paper's Table 2 parameters for ENet; the ranges are ours, around ENet's own (Adam, 5e-4, 2e-4, 0.1).
    default_space = SearchSpace([
        FloatParam("learning_rate", 1e-4, 1e-2, log=True),
        FloatParam("weight_decay", 1e-6, 1e-3, log=True),
        OrdinalParam("batch_size", (4, 8, 16, 32)),
        CategoricalParam("optimizer", OPTIMIZERS),
        IntParam("epochs", 20, 300),
        FloatParam("lr_decay", 0.95, 1.0),
        FloatParam("dropout", 0.0, 0.3),
    ])
    # ENet's own (Adam 5e-4, weight decay 2e-4, spatial dropout 0.1), no learning-rate decay.
    param_defaults = {"learning_rate": 5e-4, "weight_decay": 2e-4, "batch_size": 8, "optimizer": "adam", "epochs": 100,
                      "lr_decay": 1.0, "dropout": 0.1}
    description = ("ENet (Paszke et al. 2016), a compact encoder-decoder for real-time semantic segmentation "
                   "(0.37M parameters: an initial block, then regular, dilated, asymmetric, downsampling and "
                   "max-unpooling bottlenecks with spatial dropout), trained from scratch with class-weighted "
                   "cross-entropy; objective: mean IoU over the classes on the validation split. dropout is the "
                   "spatial dropout after the first stage (a tenth of it in the first); lr_decay multiplies the "
                   "learning rate after every epoch.")

    def profile(self, ctx: TrialContext) -> dict[str, Any]:
        """Split sizes, image size and the classes' pixel shares on a sample of training masks."""
        pairs = find_pairs(ctx)
        num_classes = ctx.option(NUM_CLASSES)
        train = [p for p in pairs if p.part == "train" and p.image is not None and p.mask is not None]
        with image_reader() as reader:
            native = describe(reader.read(train[0].image)) if train else {}
            counts = np.zeros(num_classes + 1)
            for pair in subset(train, 20, 0):
                mask = decode(reader.read(pair.mask), None)
                counts += np.bincount(np.minimum(mask.ravel(), num_classes), minlength=num_classes + 1)
        shares = counts / max(counts.sum(), 1.0)
        names = CAMVID_CLASSES if num_classes == len(CAMVID_CLASSES) else tuple(map(str, range(num_classes)))
        profile: dict[str, Any] = {
            "images": {part: sum(p.part == part for p in pairs) for part in PARTS},
            "image_size": [native.get("width"), native.get("height")],
            "classes": num_classes,
            "class_pixel_shares": {name: round(float(s), 4) for name, s in zip(names, shares, strict=False)},
            "void_pixel_share": round(float(shares[-1]), 4),
        }
        if native.get("decoded"):
            profile["trained_at"] = list(training_size(ctx, (native["width"], native["height"])))
        profile["images_used"] = {part: len(items) for part, items in capped_parts(pairs, ctx).items()}
        return profile

    def check_data(self, ctx: TrialContext) -> list[ContractReport]:
        """Every image has its mask (and back); a decoded sample: sizes agree, masks hold only known classes."""
        import pandas as pd

        pairs = find_pairs(ctx)
        num_classes = ctx.option(NUM_CLASSES)
        listing = pd.DataFrame([{"part": p.part, "stem": p.stem, "has_image": p.image is not None,
                                 "has_mask": p.mask is not None} for p in pairs])
        pairs_report = validate_frame("image_mask_pairs", listing, [
            expect("table_row_count_to_be_between", min_value=3),
            expect("column_values_to_be_in_set", column="has_image", value_set=[True]),
            expect("column_values_to_be_in_set", column="has_mask", value_set=[True]),
            expect("column_distinct_values_to_contain_set", column="part", value_set=["train", "validation"]),
        ])
        seed = ctx.option(SPLIT_SEED)
        rows, value_counts = [], np.zeros(256, dtype=np.int64)
        with image_reader() as reader:
            for part in PARTS:
                complete = [p for p in pairs if p.part == part and p.image is not None and p.mask is not None]
                for pair in subset(complete, CONTRACT_SAMPLE, seed):
                    mask_bytes = reader.read(pair.mask)
                    image, mask = describe(reader.read(pair.image)), describe(mask_bytes)
                    if mask["decoded"] and mask["mode"] in ("L", "P"):
                        value_counts += np.bincount(decode(mask_bytes, None).ravel(), minlength=256)
                    rows.append({"part": part, "stem": pair.stem, "image_decoded": image["decoded"],
                                 "mask_decoded": mask["decoded"], "image_mode": image["mode"],
                                 "mask_mode": mask["mode"], "width": image["width"], "height": image["height"],
                                 "sizes_match": (image["width"], image["height"]) == (mask["width"], mask["height"])})
        sample_report = validate_frame("decoded_sample", pd.DataFrame(rows), [
            expect("column_values_to_be_in_set", column="image_decoded", value_set=[True]),
            expect("column_values_to_be_in_set", column="mask_decoded", value_set=[True]),
            expect("column_values_to_be_in_set", column="image_mode", value_set=["RGB", "L"]),
            # One class index per pixel: colour-coded masks would need a palette mapping first.
            expect("column_values_to_be_in_set", column="mask_mode", value_set=["L", "P"]),
            expect("column_values_to_be_in_set", column="sizes_match", value_set=[True]),
            expect("column_values_to_be_between", column="width", min_value=16, max_value=8192),
            expect("column_values_to_be_between", column="height", min_value=16, max_value=8192),
        ])
        present = np.flatnonzero(value_counts)
        values = pd.DataFrame({"value": present.astype(int), "pixels": value_counts[present]})
        # CamVid marks void with the value after the last class; other data sets use 255.
        allowed = [*range(num_classes), num_classes, IGNORE]
        values_report = validate_frame("mask_values", values, [
            expect("column_values_to_be_in_set", column="value", value_set=allowed),
            expect("table_row_count_to_be_between", min_value=2),
        ])
        return [pairs_report, sample_report, values_report]

    def train(self, params: Mapping[str, Scalar], ctx: TrialContext) -> dict[str, float]:
        import torch

        from agenthpo.tasks.torch_support import check_finite, make_optimizer, prepare

        device = prepare(ctx)
        num_classes = ctx.option(NUM_CLASSES)
        weighting, augment = ctx.option(CLASS_WEIGHTING), ctx.option(AUGMENT)
        epochs, batch_size = int(params["epochs"]), int(params["batch_size"])
        if epochs < 1 or batch_size < 1:
            raise ValueError(f"epochs={epochs} and batch_size={batch_size} must both be >= 1")
        by_part = capped_parts(find_pairs(ctx), ctx)
        for part in ("train", "validation"):
            if not by_part[part]:
                raise ValueError(f"the data has no {part} images (expected {DATA_LAYOUT})")
        with image_reader() as reader:
            native = describe(reader.read(by_part["train"][0].image))
            size = training_size(ctx, (native["width"], native["height"]))
            arrays = {part: load_arrays(items, size, num_classes, reader) for part, items in by_part.items() if items}
        images = {part: torch.from_numpy(a.images).to(device) for part, a in arrays.items()}
        masks = {part: torch.from_numpy(a.masks).to(device) for part, a in arrays.items()}
        some = torch.from_numpy(arrays["train"].images[:100]).float().reshape(-1, 3)
        mean = some.mean(0).view(1, 3, 1, 1).to(device)
        std = some.std(0).clamp_min(1.0).view(1, 3, 1, 1).to(device)
        weights = torch.tensor(class_weights(arrays["train"].masks, num_classes) if weighting
                               else np.ones(num_classes), dtype=torch.float32, device=device)
        loss_fn = torch.nn.CrossEntropyLoss(weight=weights, ignore_index=IGNORE)

        model = build_enet(num_classes, float(params["dropout"])).to(device)
        optimizer = make_optimizer(str(params["optimizer"]), model.parameters(), float(params["learning_rate"]),
                                   float(params["weight_decay"]))
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=float(params["lr_decay"]))
        generator = torch.Generator().manual_seed(ctx.seed)
        n_train = len(images["train"])

        validation: dict[str, float] = {}
        for epoch in range(1, epochs + 1):
            model.train()
            losses = []
            order = torch.randperm(n_train, generator=generator)
            # Whole batches only (BatchNorm needs more than one image), at least one batch.
            for start in range(0, max(n_train - batch_size, 0) + 1, batch_size):
                batch = order[start:start + batch_size].to(device)
                inputs = (images["train"][batch].permute(0, 3, 1, 2).float() - mean) / std
                target = masks["train"][batch].long()
                if augment:
                    flip = (torch.rand(len(batch), generator=generator) < 0.5).to(device)
                    inputs = torch.where(flip[:, None, None, None], inputs.flip(3), inputs)
                    target = torch.where(flip[:, None, None], target.flip(2), target)
                loss = loss_fn(model(inputs), target)
                check_finite(loss, epoch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            scheduler.step()
            validation = evaluate(model, images["validation"], masks["validation"], mean, std, loss_fn,
                                  num_classes)
            ctx.report(epoch, train_loss=float(np.mean(losses)), validation_loss=validation["loss"],
                       validation_miou=validation["miou"], validation_pixel_accuracy=validation["pixel_accuracy"])
        results = {"miou": validation["miou"], **{f"validation_{k}": v for k, v in validation.items()},
                   "train_images": float(n_train), "parameters": float(sum(p.numel() for p in model.parameters()))}
        if "test" in images:
            test = evaluate(model, images["test"], masks["test"], mean, std, loss_fn, num_classes)
            results.update({f"test_{k}": v for k, v in test.items()})
        return results


def confusion_scores(confusion: np.ndarray) -> dict[str, float]:
    """Mean IoU over the classes present in the truth or the prediction, and pixel accuracy."""
    true_positive = np.diag(confusion).astype(float)
    union = confusion.sum(0) + confusion.sum(1) - true_positive
    present = union > 0
    miou = float(np.mean(true_positive[present] / union[present])) if present.any() else 0.0
    return {"miou": miou, "pixel_accuracy": float(true_positive.sum() / max(confusion.sum(), 1))}


def evaluate(model, images, masks, mean, std, loss_fn, num_classes: int) -> dict[str, float]:
    """Loss, mIoU and pixel accuracy over all non-void pixels of a split."""
    import torch

    model.eval()
    confusion = torch.zeros(num_classes * num_classes, dtype=torch.long, device=images.device)
    total_loss, total_weight = 0.0, 0.0
    with torch.no_grad():
        for start in range(0, len(images), 16):
            inputs = (images[start:start + 16].permute(0, 3, 1, 2).float() - mean) / std
            target = masks[start:start + 16].long()
            logits = model(inputs)
            valid = target != IGNORE
            if not valid.any():
                continue
            # The training loss's weighting, summed here so that the split's loss does not depend on batching.
            weight = loss_fn.weight[target[valid]].sum()
            total_loss += float(loss_fn(logits, target) * weight)
            total_weight += float(weight)
            predicted = logits.argmax(1)
            confusion += torch.bincount(target[valid] * num_classes + predicted[valid],
                                        minlength=num_classes * num_classes)
    scores = confusion_scores(confusion.view(num_classes, num_classes).cpu().numpy())
    return {"loss": total_loss / max(total_weight, 1e-12), **scores}


def build_enet(num_classes: int, dropout: float):
    """ENet as in the paper's Table 1: encoder with PReLU, decoder with ReLU (as the authors' code).

    Inputs of any size: they are zero-padded to a multiple of 8 (three halvings) and the output cropped.
    """
    import torch
    import torch.nn.functional as F
    from torch import nn

    def activation(channels: int, relu: bool) -> nn.Module:
        return nn.ReLU() if relu else nn.PReLU(channels)

    def conv_bn(in_channels: int, out_channels: int, kernel, relu: bool, **conv) -> list[nn.Module]:
        return [nn.Conv2d(in_channels, out_channels, kernel, bias=False, **conv), nn.BatchNorm2d(out_channels),
                activation(out_channels, relu)]

    class InitialBlock(nn.Module):
        """A strided 3x3 convolution (13 maps) beside 2x2 max-pooling of the RGB input (3 maps)."""

        def __init__(self, out_channels: int = 16):
            super().__init__()
            self.conv = nn.Conv2d(3, out_channels - 3, 3, stride=2, padding=1, bias=False)
            self.pool = nn.MaxPool2d(2, stride=2)
            self.norm = nn.Sequential(nn.BatchNorm2d(out_channels), nn.PReLU(out_channels))

        def forward(self, x):
            return self.norm(torch.cat([self.conv(x), self.pool(x)], 1))

    class Bottleneck(nn.Module):
        """Regular bottleneck: 1x1 projection, a 3x3 (dilated) or 5x1+1x5 (asymmetric) convolution,
        1x1 expansion, spatial dropout, added to the input."""

        def __init__(self, channels: int, p: float, dilation: int = 1, asymmetric: bool = False,
                     relu: bool = False):
            super().__init__()
            inner = channels // 4
            if asymmetric:
                middle = (conv_bn(inner, inner, (5, 1), relu, padding=(2, 0))
                          + conv_bn(inner, inner, (1, 5), relu, padding=(0, 2)))
            else:
                middle = conv_bn(inner, inner, 3, relu, padding=dilation, dilation=dilation)
            self.branch = nn.Sequential(*conv_bn(channels, inner, 1, relu), *middle,
                                        *conv_bn(inner, channels, 1, relu), nn.Dropout2d(p))
            self.out = activation(channels, relu)

        def forward(self, x):
            return self.out(x + self.branch(x))

    class Downsampling(nn.Module):
        """Max-pooling (its indices kept for the decoder) zero-padded to the new width, plus a branch
        whose projection is a 2x2 stride-2 convolution."""

        def __init__(self, in_channels: int, out_channels: int, p: float):
            super().__init__()
            inner = out_channels // 4
            self.extra = out_channels - in_channels
            self.pool = nn.MaxPool2d(2, stride=2, return_indices=True)
            self.branch = nn.Sequential(*conv_bn(in_channels, inner, 2, False, stride=2),
                                        *conv_bn(inner, inner, 3, False, padding=1),
                                        *conv_bn(inner, out_channels, 1, False), nn.Dropout2d(p))
            self.out = nn.PReLU(out_channels)

        def forward(self, x):
            main, indices = self.pool(x)
            return self.out(F.pad(main, (0, 0, 0, 0, 0, self.extra)) + self.branch(x)), indices

    class Upsampling(nn.Module):
        """Max-unpooling with the encoder's indices after a 1x1 convolution, plus a transposed-convolution branch."""

        def __init__(self, in_channels: int, out_channels: int, p: float):
            super().__init__()
            inner = in_channels // 4
            self.main = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False),
                                      nn.BatchNorm2d(out_channels))
            self.unpool = nn.MaxUnpool2d(2, stride=2)
            self.branch = nn.Sequential(*conv_bn(in_channels, inner, 1, True),
                                        nn.ConvTranspose2d(inner, inner, 2, stride=2, bias=False),
                                        nn.BatchNorm2d(inner), nn.ReLU(),
                                        *conv_bn(inner, out_channels, 1, True), nn.Dropout2d(p))
            self.out = nn.ReLU()

        def forward(self, x, indices, size):
            return self.out(self.unpool(self.main(x), indices, output_size=size) + self.branch(x))

    def stage_2_or_3(p: float) -> list[nn.Module]:
        return [Bottleneck(128, p), Bottleneck(128, p, dilation=2), Bottleneck(128, p, asymmetric=True),
                Bottleneck(128, p, dilation=4), Bottleneck(128, p), Bottleneck(128, p, dilation=8),
                Bottleneck(128, p, asymmetric=True), Bottleneck(128, p, dilation=16)]

    class ENet(nn.Module):
        def __init__(self):
            super().__init__()
            # The paper's spatial dropout: 0.01 in stage 1 and 0.1 afterwards, i.e. p/10 and p.
            self.initial = InitialBlock(16)
            self.down1 = Downsampling(16, 64, dropout / 10)
            self.stage1 = nn.Sequential(*[Bottleneck(64, dropout / 10) for _ in range(4)])
            self.down2 = Downsampling(64, 128, dropout)
            self.stage2 = nn.Sequential(*stage_2_or_3(dropout))
            self.stage3 = nn.Sequential(*stage_2_or_3(dropout))
            self.up4 = Upsampling(128, 64, dropout)
            self.stage4 = nn.Sequential(Bottleneck(64, dropout, relu=True), Bottleneck(64, dropout, relu=True))
            self.up5 = Upsampling(64, 16, dropout)
            self.stage5 = Bottleneck(16, dropout, relu=True)
            self.full_conv = nn.ConvTranspose2d(16, num_classes, 3, stride=2, padding=1, output_padding=1)

        def forward(self, x):
            height, width = x.shape[-2:]
            x = F.pad(x, (0, -width % 8, 0, -height % 8))
            x = self.initial(x)
            size1 = x.shape
            x, indices1 = self.down1(x)
            x = self.stage1(x)
            size2 = x.shape
            x, indices2 = self.down2(x)
            x = self.stage3(self.stage2(x))
            x = self.stage4(self.up4(x, indices2, size2))
            x = self.stage5(self.up5(x, indices1, size1))
            return self.full_conv(x)[..., :height, :width]

    return ENet()


SEGMENTATION = SegmentationTask()
