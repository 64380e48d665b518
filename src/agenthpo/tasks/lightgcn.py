"""LightGCN (He et al., 2020) on MovieLens: top-10 movie recommendation, the paper's matrix-factorisation task.

Every rating counts as an interaction (implicit feedback, as in LightGCN's benchmarks). The layer-0 user and
movie embeddings are propagated `num_layers` times over the symmetrically normalised user-movie graph of the
training ratings, and the layers are averaged. Training minimises the BPR loss over one sampled unrated movie per
training interaction, plus `weight_decay` times the squared L2 norm of the batch's layer-0 embeddings (LightGCN's
`decay`), with Adam. Written in plain torch with a sparse adjacency (no torch-scatter / torch-sparse needed).

Evaluation ranks every movie seen in training for each user, leaving out the movies the user rated in training
(and, for test, in validation too); the metrics are NDCG@10 and Recall@10 over the held-out ratings.
Held-out ratings of movies absent from training are dropped: a collaborative filter has no embedding for them.
`validation_loss` is the BPR loss of the validation interactions against fixed sampled negatives.

Options: those of `agenthpo.tasks.movielens` (split, split_seed, validation_fraction, test_fraction,
max_users) and of `agenthpo.tasks.torch_support` (device, threads).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from agenthpo.space import FloatParam, IntParam, OrdinalParam, Scalar, SearchSpace
from agenthpo.tasks import movielens
from agenthpo.tasks.base import TaskPlugin, TrialContext
from agenthpo.tasks.options import TORCH_OPTIONS
from agenthpo.trial import Objective

TOP_K = 10
METRIC = f"ndcg_at_{TOP_K}"
# Users scored at once in evaluation: bounds the users x movies score matrix for large MovieLens dumps.
EVAL_USER_CHUNK = 1024

# The paper's Table 2 parameters for LightGCN; ranges around LightGCN's defaults (lr 1e-3, dim 64, 3 layers,
# decay 1e-4, batch 2048).
SPACE = SearchSpace([
    FloatParam("learning_rate", 1e-4, 1e-1, log=True),
    OrdinalParam("embedding_dim", (16, 32, 64, 128, 256)),
    IntParam("num_layers", 1, 4),
    FloatParam("weight_decay", 1e-6, 1e-2, log=True),
    OrdinalParam("batch_size", (512, 1024, 2048, 4096, 8192)),
    IntParam("epochs", 10, 500),
])


@dataclass(frozen=True)
class InteractionGraph:
    """The training interactions as (user, movie) index pairs, and the held-out pairs to rank against them."""

    num_users: int
    num_items: int
    train: np.ndarray  # (n, 2) user index, item index
    validation: np.ndarray
    test: np.ndarray
    dropped_cold: dict[str, int]  # held-out pairs whose movie has no training rating


def build_graph(split: movielens.RatingsSplit) -> InteractionGraph:
    users = np.sort(split.train["userId"].unique())
    items = np.sort(split.train["movieId"].unique())

    def pairs(part) -> tuple[np.ndarray, int]:
        user_index = np.searchsorted(users, part["userId"].to_numpy())
        item_index = np.searchsorted(items, part["movieId"].to_numpy())
        known = (item_index < len(items)) & (items[np.minimum(item_index, len(items) - 1)] ==
                                             part["movieId"].to_numpy())
        return np.stack([user_index[known], item_index[known]], axis=1), int((~known).sum())

    train, _ = pairs(split.train)
    validation, cold_validation = pairs(split.validation)
    test, cold_test = pairs(split.test)
    return InteractionGraph(len(users), len(items), train, validation, test,
                            {"validation": cold_validation, "test": cold_test})


def ndcg_and_recall(top_hits: np.ndarray, relevant: np.ndarray) -> tuple[float, float]:
    """Mean binary NDCG@k and Recall@k of users with held-out items, from their top-k hit rows (1 = relevant)."""
    k = top_hits.shape[1]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discounts)[np.minimum(relevant, k) - 1]
    ndcg = (top_hits * discounts).sum(axis=1) / ideal
    recall = top_hits.sum(axis=1) / relevant
    return float(ndcg.mean()), float(recall.mean())


class LightGCNTask(TaskPlugin):
    name = "lightgcn"
    late_imports = ("torch",)
    options = (*movielens.OPTIONS, *TORCH_OPTIONS)
    metrics = (METRIC, f"validation_{METRIC}", f"validation_recall_at_{TOP_K}", f"test_{METRIC}",
               f"test_recall_at_{TOP_K}", "train_loss", "validation_loss")
    default_objective = Objective(METRIC, "maximize")
    default_space = SPACE
    # LightGCN's paper (He et al. 2020): Adam 1e-3, 64-dimensional embeddings, 3 layers, L2 1e-4, batches of 2048.
    param_defaults = {"learning_rate": 1e-3, "embedding_dim": 64, "num_layers": 3, "weight_decay": 1e-4,
                      "batch_size": 2048, "epochs": 100}
    description = (f"LightGCN graph collaborative filtering (BPR loss, Adam) on MovieLens ratings as implicit "
                   f"feedback; objective NDCG@{TOP_K} of held-out movies on the validation split.")

    def profile(self, ctx: TrialContext) -> dict[str, Any]:
        split = movielens.load_split(ctx)
        profile = movielens.profile_ratings(ctx, split)
        graph = build_graph(split)
        profile["graph"] = {"user_nodes": graph.num_users, "movie_nodes": graph.num_items,
                            "training_interactions": int(len(graph.train)),
                            "held_out_pairs_dropped_for_unseen_movies": graph.dropped_cold}
        return profile

    def check_data(self, ctx: TrialContext) -> list:
        return movielens.check_ratings(ctx)

    def train(self, params: Mapping[str, Scalar], ctx: TrialContext) -> dict[str, float]:
        import torch

        from agenthpo.tasks.torch_support import batch_indices, check_finite, make_optimizer, prepare

        device = prepare(ctx)
        graph = build_graph(movielens.load_split(ctx))
        num_layers, epochs = int(params["num_layers"]), int(params["epochs"])
        weight_decay, batch_size = float(params["weight_decay"]), int(params["batch_size"])
        adjacency = normalised_adjacency(graph, device)
        embedding = torch.nn.Embedding(graph.num_users + graph.num_items, int(params["embedding_dim"]),
                                       device=device)
        # LightGCN's initialisation: N(0, 0.1^2).
        torch.nn.init.normal_(embedding.weight, std=0.1)
        optimizer = make_optimizer("adam", embedding.parameters(), float(params["learning_rate"]))
        generator = torch.Generator().manual_seed(ctx.seed)
        sampler = NegativeSampler(graph, ctx.seed)
        train_pairs = torch.as_tensor(graph.train, device=device)
        # Fixed negatives: the validation loss of different epochs compares like with like.
        validation_pairs = torch.as_tensor(graph.validation, device=device)
        validation_negatives = sampler.sample(graph.validation[:, 0]).to(device)

        def propagate() -> torch.Tensor:
            return lightgcn_embeddings(embedding.weight, adjacency, num_layers)

        for epoch in range(1, epochs + 1):
            losses = []
            for batch in batch_indices(len(graph.train), batch_size, generator):
                users, positives = train_pairs[batch.to(device)].unbind(1)
                negatives = sampler.sample(graph.train[batch.numpy(), 0]).to(device)
                nodes = torch.cat([users, positives + graph.num_users, negatives + graph.num_users])
                loss = bpr_loss(propagate(), graph.num_users, users, positives, negatives)
                loss = loss + weight_decay * embedding.weight[nodes].pow(2).sum() / len(users)
                check_finite(loss, epoch)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            with torch.no_grad():
                final = propagate()
                users, positives = validation_pairs.unbind(1)
                validation_loss = bpr_loss(final, graph.num_users, users, positives, validation_negatives).item()
                ndcg, recall = rank_metrics(final, graph, graph.validation, [graph.train])
            ctx.report(epoch, train_loss=float(np.mean(losses)), validation_loss=validation_loss,
                       **{f"validation_ndcg_at_{TOP_K}": ndcg, f"validation_recall_at_{TOP_K}": recall})
        with torch.no_grad():
            test_ndcg, test_recall = rank_metrics(propagate(), graph, graph.test, [graph.train, graph.validation])
        return {METRIC: ndcg, f"validation_{METRIC}": ndcg, f"validation_recall_at_{TOP_K}": recall,
                f"test_{METRIC}": test_ndcg, f"test_recall_at_{TOP_K}": test_recall,
                "train_loss": float(np.mean(losses)), "validation_loss": validation_loss}


def normalised_adjacency(graph: InteractionGraph, device):
    """D^-1/2 A D^-1/2 of the bipartite user-movie graph (users first, then movies), a sparse CSR matrix."""
    import torch

    users = torch.as_tensor(graph.train[:, 0])
    items = torch.as_tensor(graph.train[:, 1]) + graph.num_users
    rows, columns = torch.cat([users, items]), torch.cat([items, users])
    nodes = graph.num_users + graph.num_items
    degree = torch.bincount(rows, minlength=nodes).float()
    values = degree[rows].rsqrt() * degree[columns].rsqrt()
    adjacency = torch.sparse_coo_tensor(torch.stack([rows, columns]), values, (nodes, nodes),
                                        check_invariants=False).coalesce()
    # CSR products run several times faster than COO ones on CPU; the "beta" notice would print in every trial.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return adjacency.to_sparse_csr().to(device)


@functools.cache
def symmetric_sparse_matmul():
    """matrix @ dense for a symmetric sparse matrix, differentiable in `dense`.

    torch's own backward transposes and re-sorts the sparse matrix at every call, which makes a training step
    on CPU several times slower; a symmetric matrix is its own transpose.
    """
    import torch

    class SymmetricSparseMatmul(torch.autograd.Function):
        @staticmethod
        def forward(ctx, matrix, dense):
            ctx.matrix = matrix
            return torch.sparse.mm(matrix, dense)

        @staticmethod
        def backward(ctx, grad):
            return None, torch.sparse.mm(ctx.matrix, grad)

    return SymmetricSparseMatmul.apply


def lightgcn_embeddings(layer0, adjacency, num_layers: int):
    """The mean of the layer-0 embeddings and their 1..num_layers propagations (LightGCN's alpha = 1/(L+1))."""
    matmul = symmetric_sparse_matmul()
    total, layer = layer0, layer0
    for _ in range(num_layers):
        layer = matmul(adjacency, layer)
        total = total + layer
    return total / (num_layers + 1)


def bpr_loss(final, num_users: int, users, positives, negatives):
    import torch.nn.functional as F

    user_vectors = final[users]
    positive_scores = (user_vectors * final[positives + num_users]).sum(dim=1)
    negative_scores = (user_vectors * final[negatives + num_users]).sum(dim=1)
    return -F.logsigmoid(positive_scores - negative_scores).mean()


class NegativeSampler:
    """Uniform movies that each user did not rate in training (BPR's negatives), from a seeded generator."""

    def __init__(self, graph: InteractionGraph, seed: int):
        self.num_items = graph.num_items
        self.rng = np.random.default_rng(seed)
        self.rated = np.unique(graph.train[:, 0] * graph.num_items + graph.train[:, 1])
        # A user who rated every movie has no negative: any movie will do rather than sampling forever.
        rated_per_user = np.bincount(self.rated // graph.num_items, minlength=graph.num_users)
        self.rated_everything = rated_per_user >= graph.num_items

    def _is_rated(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        keys = users * self.num_items + items
        position = np.minimum(np.searchsorted(self.rated, keys), len(self.rated) - 1)
        return (self.rated[position] == keys) & ~self.rated_everything[users]

    def sample(self, users: np.ndarray):
        import torch

        items = self.rng.integers(self.num_items, size=len(users))
        rated = self._is_rated(users, items)
        while rated.any():
            items[rated] = self.rng.integers(self.num_items, size=int(rated.sum()))
            rated[rated] = self._is_rated(users[rated], items[rated])
        return torch.as_tensor(items)


def rank_metrics(final, graph: InteractionGraph, targets: np.ndarray, known: list[np.ndarray]) -> tuple[float, float]:
    """NDCG@k and Recall@k of `targets` among all movies, with each user's `known` movies left out of the ranking."""
    import torch

    device = final.device
    user_vectors, item_vectors = final[:graph.num_users], final[graph.num_users:]
    target_users = np.unique(targets[:, 0])
    hits, relevant = [], []
    for start in range(0, len(target_users), EVAL_USER_CHUNK):
        chunk = target_users[start:start + EVAL_USER_CHUNK]
        row_of = np.full(graph.num_users, -1)
        row_of[chunk] = np.arange(len(chunk))
        scores = user_vectors[torch.as_tensor(chunk, device=device)] @ item_vectors.T
        for pairs in known:
            rows = row_of[pairs[:, 0]]
            mine = rows >= 0
            scores[torch.as_tensor(rows[mine], device=device),
                   torch.as_tensor(pairs[mine, 1], device=device)] = -torch.inf
        is_target = torch.zeros_like(scores, dtype=torch.bool)
        rows = row_of[targets[:, 0]]
        mine = rows >= 0
        is_target[torch.as_tensor(rows[mine], device=device), torch.as_tensor(targets[mine, 1], device=device)] = True
        top = scores.topk(min(TOP_K, graph.num_items), dim=1).indices
        hits.append(is_target.gather(1, top).float().cpu().numpy())
        relevant.append(is_target.sum(dim=1).cpu().numpy())
    return ndcg_and_recall(np.concatenate(hits), np.concatenate(relevant))


LIGHTGCN = LightGCNTask()
