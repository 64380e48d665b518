"""Data helpers several plug-ins share: the seeded train / validation / test split, seeded subsets and caps.

Every one is fixed by a split seed (task_options.split_seed), never by the study seed, so every trial
and every proposer sees the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Split:
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray


def split_indices(labels: np.ndarray, validation_fraction: float, test_fraction: float, seed: int,
                  stratify: bool) -> Split:
    """A seeded split; stratified by label for classification so small classes appear in each part."""
    for name, value in (("validation_fraction", validation_fraction), ("test_fraction", test_fraction)):
        if not 0.0 < value < 0.5 and not (name == "test_fraction" and value == 0.0):  # 0: a separate test set
            raise ValueError(f"{name}={value!r} outside (0, 0.5)")
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(labels == c) for c in np.unique(labels)] if stratify else [np.arange(len(labels))]
    parts: dict[str, list[np.ndarray]] = {"train": [], "validation": [], "test": []}
    for group in groups:
        group = rng.permutation(group)
        n_test = int(round(len(group) * test_fraction))
        n_val = int(round(len(group) * validation_fraction))
        parts["test"].append(group[:n_test])
        parts["validation"].append(group[n_test:n_test + n_val])
        parts["train"].append(group[n_test + n_val:])
    return Split(**{k: np.sort(np.concatenate(v)) for k, v in parts.items()})


def subset(items: Sequence[Any], count: int, seed: int) -> list[Any]:
    """A seeded subset of `count` items in their original order (the same for every trial)."""
    if count >= len(items):
        return list(items)
    chosen = np.sort(np.random.default_rng(seed).choice(len(items), size=count, replace=False))
    return [items[i] for i in chosen]


def capped(available: int, cap: int | None) -> int:
    """How many of `available` items to use: all of them, or at most `cap` (a max_*_samples option) when set."""
    return available if cap is None else min(cap, available)

