"""What the torch plug-ins share: device choice, seeding, threads, optimizers, batching and size caps.

Imported only inside a plug-in's `train` or `profile`, so the XGBoost image never imports torch.
Task options read here: device and threads (`agenthpo.tasks.options.TORCH_OPTIONS`, which every torch
plug-in declares).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch

from agenthpo.tasks.base import TrialContext
from agenthpo.tasks.data import capped, subset  # noqa: F401 (re-exported for the plug-ins)
from agenthpo.tasks.options import DEVICE, THREADS

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")


def pick_device(ctx: TrialContext) -> torch.device:
    wanted = ctx.option(DEVICE)
    if wanted == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if wanted.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"task_options.device={wanted!r} but CUDA is not available on this machine")
    return torch.device(wanted)


def prepare(ctx: TrialContext) -> torch.device:
    """Seed every generator from the study seed, set the thread count, and return the device."""
    random.seed(ctx.seed)
    np.random.seed(ctx.seed % 2**32)
    torch.manual_seed(ctx.seed)
    threads = ctx.option(THREADS)
    if threads is not None:
        torch.set_num_threads(threads)
    return pick_device(ctx)


def make_optimizer(name: str, parameters, learning_rate: float, weight_decay: float = 0.0,
                   momentum: float = 0.9) -> torch.optim.Optimizer:
    name = str(name).lower()
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=learning_rate, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(parameters, lr=learning_rate, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=learning_rate, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"optimizer={name!r} is not one of {list(OPTIMIZERS)}")


def batch_indices(n: int, batch_size: int, generator: torch.Generator | None = None,
                  shuffle: bool = True) -> Iterator[torch.Tensor]:
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def epoch_numbers(params: Mapping[str, Any]) -> range:
    """Epochs 1..params['epochs']; a space whose low bound allows 0 fails the trial with a plain message."""
    epochs = int(params["epochs"])
    if epochs < 1:
        raise ValueError(f"epochs={epochs} must be >= 1")
    return range(1, epochs + 1)


def check_finite(loss: torch.Tensor, epoch: int) -> None:
    """A diverged run fails its trial at once (a recorded result) instead of training on NaNs."""
    if not torch.isfinite(loss):
        raise FloatingPointError(f"training loss became {loss.item()!r} in epoch {epoch}: diverged "
                                 f"(learning rate too high?)")
