"""The CPU variants' caps on the splits: a module of its own, so that only the plug-ins that cap their splits
read (and so declare) max_train_samples and max_eval_samples."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agenthpo.tasks.options import MAX_EVAL_SAMPLES, MAX_TRAIN_SAMPLES


def split_caps(options: Mapping[str, Any]) -> dict[str, int | None]:
    """The seeded subsets' sizes per split (None: all of it): max_train_samples for train, max_eval_samples
    for validation and test (`SUBSET_OPTIONS`)."""
    eval_cap = MAX_EVAL_SAMPLES.read(options)
    return {"train": MAX_TRAIN_SAMPLES.read(options), "validation": eval_cap, "test": eval_cap}
