"""DeepFM (Guo et al., 2017) on MovieLens: click-through-rate prediction, the paper's CTR task.

The "click" is a rating of 4 stars or more (about half of the MovieLens 100k ratings). Four fields describe a
rating: the user id, the movie id, the movie's genres (a multi-hot field whose embedding is the mean of its
genres' embeddings) and its release decade. The logit sums the FM part (first-order weights of the fields and
the pairwise dot products of their embeddings) and an MLP over the concatenated field embeddings; both share
the embeddings. Written in plain torch, trained with Adam on binary cross-entropy.

Vocabularies come from the training ratings: an id, genre or decade never seen in training maps to a shared
"unknown" index (the temporal split holds out movies that are new in the users' latest ratings).
Metrics: AUC (objective) and logloss on validation and test.

Options: those of `agenthpo.tasks.movielens` (split, split_seed, validation_fraction, test_fraction,
max_users) and of `agenthpo.tasks.torch_support` (device, threads).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from agenthpo.space import CategoricalParam, FloatParam, IntParam, OrdinalParam, Scalar, SearchSpace
from agenthpo.tasks import movielens
from agenthpo.tasks.base import TaskPlugin, TrialContext
from agenthpo.tasks.options import TORCH_OPTIONS
from agenthpo.trial import Objective

# Ratings of at least this many stars are the positive ("clicked") class.
POSITIVE_RATING = 4.0
SINGLE_FIELDS = ("user", "movie", "decade")
# Index 0 of every vocabulary: unknown (and the genre field's padding).
UNKNOWN = 0
EVAL_BATCH = 65536

# The paper's Table 2 parameters for DeepFM; ranges around the DeepFM paper's choices (400-400-400 MLP,
# dropout 0.5, Adam) and common CTR practice.
SPACE = SearchSpace([
    FloatParam("learning_rate", 1e-4, 1e-2, log=True),
    OrdinalParam("embedding_dim", (4, 8, 16, 32, 64)),
    CategoricalParam("hidden_units", ("64-32", "128-64", "256-128", "256-128-64", "400-400-400")),
    FloatParam("dropout", 0.0, 0.6),
    FloatParam("weight_decay", 1e-7, 1e-3, log=True),
    OrdinalParam("batch_size", (256, 512, 1024, 2048, 4096)),
    IntParam("epochs", 1, 30),
])


def hidden_layer_sizes(layout: str) -> list[int]:
    """'256-128' -> [256, 128]."""
    try:
        sizes = [int(part) for part in str(layout).split("-")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise ValueError(f"hidden_units={layout!r} must be layer widths joined by '-', e.g. '256-128'")
    return sizes


@dataclass(frozen=True)
class Features:
    """One row per rating: the single-valued fields' indices, the padded genre indices and the click label."""

    single: np.ndarray  # (n, len(SINGLE_FIELDS)) int64
    genres: np.ndarray  # (n, max genres) int64, UNKNOWN-padded
    labels: np.ndarray  # (n,) float32, 1 = rating >= POSITIVE_RATING


@dataclass(frozen=True)
class Vocabulary:
    """Index maps built on the training ratings; index 0 is kept for unknown values."""

    users: np.ndarray
    movies: np.ndarray
    decades: np.ndarray
    genres: dict[str, int]

    @classmethod
    def fit(cls, train) -> Vocabulary:
        names = sorted({g for names in movielens.genre_lists(train["genres"].unique()) for g in names})
        return cls(np.sort(train["userId"].unique()), np.sort(train["movieId"].unique()),
                   np.unique(decade_of(train["year"].to_numpy())), {g: i + 1 for i, g in enumerate(names)})

    def sizes(self) -> dict[str, int]:
        """Embedding rows per field, the unknown index included."""
        return {"user": len(self.users) + 1, "movie": len(self.movies) + 1, "decade": len(self.decades) + 1,
                "genres": len(self.genres) + 1}

    def encode(self, ratings) -> Features:
        import pandas as pd

        single = np.stack([lookup(self.users, ratings["userId"].to_numpy()),
                           lookup(self.movies, ratings["movieId"].to_numpy()),
                           lookup(self.decades, decade_of(ratings["year"].to_numpy()))], axis=1)
        # Movies share a few hundred genre strings: encode each once.
        codes, texts = pd.factorize(ratings["genres"])
        lists = [[self.genres.get(g, UNKNOWN) for g in names] or [UNKNOWN] for names in movielens.genre_lists(texts)]
        table = np.full((max(len(lists), 1), max(map(len, lists), default=1)), UNKNOWN, dtype=np.int64)
        for row, indices in enumerate(lists):
            table[row, :len(indices)] = indices
        genres = table[codes]
        labels = (ratings["rating"].to_numpy() >= POSITIVE_RATING).astype(np.float32)
        return Features(single.astype(np.int64), genres, labels)


def decade_of(years: np.ndarray) -> np.ndarray:
    """Release decade (1990 for 1995); -1, a bucket of its own, where the year is unknown."""
    return np.where(np.isnan(years), -1, np.floor(np.nan_to_num(years) / 10) * 10).astype(np.int64)


def lookup(known: np.ndarray, values: np.ndarray) -> np.ndarray:
    """1-based index of each value in the sorted `known`, UNKNOWN where absent."""
    position = np.searchsorted(known, values)
    found = (position < len(known)) & (known[np.minimum(position, len(known) - 1)] == values)
    return np.where(found, position + 1, UNKNOWN)


def auc_score(labels: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if len(np.unique(labels)) < 2:
        raise ValueError("AUC needs both clicked and unclicked ratings in the evaluated split")
    return float(roc_auc_score(labels, scores))


def log_loss(labels: np.ndarray, probabilities: np.ndarray) -> float:
    clipped = np.clip(probabilities, 1e-7, 1 - 1e-7)
    return float(-np.mean(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped)))


class DeepFMTask(TaskPlugin):
    name = "deepfm"
    late_imports = ("torch", "sklearn.metrics")
    options = (*movielens.OPTIONS, *TORCH_OPTIONS)
    metrics = ("auc", "validation_auc", "validation_logloss", "test_auc", "test_logloss", "train_loss")
    default_objective = Objective("auc", "maximize")
    default_space = SPACE
    # DeepCTR's DeepFM defaults where they fall inside the space (Adam 1e-3, 256-128-64, no dropout).
    param_defaults = {"learning_rate": 1e-3, "embedding_dim": 16, "hidden_units": "256-128-64", "dropout": 0.0,
                      "weight_decay": 1e-6, "batch_size": 1024, "epochs": 10}
    description = ("DeepFM (factorisation machine plus MLP on shared field embeddings) predicting whether a "
                   "MovieLens user rates a movie 4 stars or more; objective AUC on the validation split.")

    def profile(self, ctx: TrialContext) -> dict[str, Any]:
        split = movielens.load_split(ctx)
        profile = movielens.profile_ratings(ctx, split)
        vocabulary = Vocabulary.fit(split.train)
        profile["ctr"] = {
            "label": f"rating >= {POSITIVE_RATING:g}",
            "positive_share": {part: round(float((frame["rating"] >= POSITIVE_RATING).mean()), 3)
                               for part, frame in (("train", split.train), ("validation", split.validation),
                                                   ("test", split.test))},
            "field_vocabulary_sizes": vocabulary.sizes(),
            "validation_movies_unseen_in_train": round(float(
                (lookup(vocabulary.movies, split.validation["movieId"].to_numpy()) == UNKNOWN).mean()), 3),
        }
        return profile

    def check_data(self, ctx: TrialContext) -> list:
        return movielens.check_ratings(ctx)

    def train(self, params: Mapping[str, Scalar], ctx: TrialContext) -> dict[str, float]:
        import torch

        from agenthpo.tasks.torch_support import batch_indices, check_finite, make_optimizer, prepare

        device = prepare(ctx)
        hidden = hidden_layer_sizes(str(params["hidden_units"]))
        split = movielens.load_split(ctx)
        vocabulary = Vocabulary.fit(split.train)
        train, validation, test = (vocabulary.encode(part) for part in (split.train, split.validation, split.test))
        model = build_deepfm(vocabulary.sizes(), int(params["embedding_dim"]), hidden, float(params["dropout"]))
        model.to(device)
        optimizer = make_optimizer("adam", model.parameters(), float(params["learning_rate"]),
                                   float(params["weight_decay"]))
        single, genres, labels = (torch.as_tensor(array, device=device) for array in
                                  (train.single, train.genres, train.labels))
        generator = torch.Generator().manual_seed(ctx.seed)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        for epoch in range(1, int(params["epochs"]) + 1):
            model.train()
            losses, weights = [], []
            for batch in batch_indices(len(train.labels), int(params["batch_size"]), generator):
                batch = batch.to(device)
                loss = loss_fn(deepfm_logits(model, single[batch], genres[batch]), labels[batch])
                check_finite(loss, epoch)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
                weights.append(len(batch))
            validation_probabilities = predict(model, validation, device)
            validation_auc = auc_score(validation.labels, validation_probabilities)
            validation_loss = log_loss(validation.labels, validation_probabilities)
            ctx.report(epoch, train_loss=float(np.average(losses, weights=weights)), validation_loss=validation_loss,
                       validation_auc=validation_auc)
        test_probabilities = predict(model, test, device)
        return {"auc": validation_auc, "validation_auc": validation_auc, "validation_logloss": validation_loss,
                "test_auc": auc_score(test.labels, test_probabilities),
                "test_logloss": log_loss(test.labels, test_probabilities),
                "train_loss": float(np.average(losses, weights=weights))}


def build_deepfm(field_sizes: dict[str, int], embedding_dim: int, hidden: list[int], dropout: float):
    """The DeepFM modules: per field a first-order weight and an embedding, and the MLP.

    The MLP's output bias doubles as the FM's global bias (both are added to the same logit).
    """
    import torch
    from torch import nn

    def table(field: str, dim: int) -> nn.Module:
        if field == "genres":
            # Mean over the movie's genres; padding (index 0) is left out of the mean.
            return nn.EmbeddingBag(field_sizes[field], dim, mode="mean", padding_idx=UNKNOWN)
        return nn.Embedding(field_sizes[field], dim)

    fields = [*SINGLE_FIELDS, "genres"]
    layers: list[nn.Module] = []
    width = embedding_dim * len(fields)
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
        width = size
    layers.append(nn.Linear(width, 1))
    model = nn.ModuleDict({
        "first_order": nn.ModuleDict({field: table(field, 1) for field in fields}),
        "embeddings": nn.ModuleDict({field: table(field, embedding_dim) for field in fields}),
        "mlp": nn.Sequential(*layers),
    })
    for embeddings in model["embeddings"].values():
        torch.nn.init.normal_(embeddings.weight, std=0.01)
    for weights in model["first_order"].values():
        torch.nn.init.zeros_(weights.weight)
    return model


def deepfm_logits(model, single, genres):
    """First-order + second-order FM terms + MLP, one logit per row."""
    import torch

    def field_inputs(group: str) -> list:
        tables = model[group]
        return [tables[field](single[:, i]) for i, field in enumerate(SINGLE_FIELDS)] + [tables["genres"](genres)]

    first_order = torch.cat(field_inputs("first_order"), dim=1).sum(dim=1)
    embeddings = torch.stack(field_inputs("embeddings"), dim=1)  # (batch, fields, dim)
    # sum_{i<j} <e_i, e_j> = ((sum_i e_i)^2 - sum_i e_i^2) / 2, summed over the embedding dimension.
    second_order = 0.5 * (embeddings.sum(dim=1).pow(2) - embeddings.pow(2).sum(dim=1)).sum(dim=1)
    deep = model["mlp"](embeddings.flatten(1)).squeeze(1)
    return first_order + second_order + deep


def predict(model, features: Features, device) -> np.ndarray:
    import torch

    model.eval()
    outputs = []
    with torch.no_grad():
        for start in range(0, len(features.labels), EVAL_BATCH):
            rows = slice(start, start + EVAL_BATCH)
            logits = deepfm_logits(model, torch.as_tensor(features.single[rows], device=device),
                                   torch.as_tensor(features.genres[rows], device=device))
            outputs.append(torch.sigmoid(logits).cpu().numpy())
    return np.concatenate(outputs)


DEEPFM = DeepFMTask()
