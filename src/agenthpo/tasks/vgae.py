"""Link prediction with a variational graph auto-encoder (VGAE, Kipf & Welling 2016): the paper's Pubmed task.

PyG's VGAE with a two-layer GCN encoder (a graph convolution to hidden_channels, then GCNConv heads for the mean and
log-std of latent_channels) and an inner-product decoder, trained full-batch on the training edges. The undirected
edges are split 85/5/10 into train / validation / test as in the GAE paper, with as many sampled non-edges as
negatives for validation and test; the split is fixed by task_options.split_seed, never by the trial seed. The
objective is the validation ROC AUC after the last epoch; test AUC and average precision are recorded beside it.
PubMed's shared files lack the features of most nodes, so there the input is featureless by default (the paper's
identity input: one learned row per node, without a dense N x N matrix).

Options (declared in `LinkPredictionTask.options`): dataset, features (agenthpo.tasks.planetoid), split_seed,
validation_fraction, test_fraction, device and threads (agenthpo.tasks.torch_support).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from agenthpo.space import FloatParam, IntParam, OrdinalParam, Scalar, SearchSpace
from agenthpo.tasks import planetoid
from agenthpo.tasks.base import TaskPlugin, TrialContext
from agenthpo.tasks.contracts import ContractReport
from agenthpo.tasks.options import SPLIT_SEED, TORCH_OPTIONS, Option, fraction
from agenthpo.trial import Objective

# The paper's Table 2 parameters for VGAE; the GAE paper's setting (lr 0.01, 32 hidden, 16 latent, no dropout,
# no weight decay, 200 epochs) lies inside every range (weight decay 1e-8 is as good as none).
SPACE = SearchSpace([
    FloatParam("learning_rate", 1e-3, 0.05, log=True),
    OrdinalParam("hidden_channels", (16, 32, 64, 128, 256)),
    OrdinalParam("latent_channels", (8, 16, 32, 64, 128)),
    FloatParam("dropout", 0.0, 0.5),
    FloatParam("weight_decay", 1e-8, 1e-3, log=True),
    IntParam("epochs", 20, 400),
])
VALIDATION_FRACTION = Option("validation_fraction", float, 0.05, fraction(),
                             "share of the edges held out for validation")
TEST_FRACTION = Option("test_fraction", float, 0.10, fraction(), "share of the edges held out for test")


@dataclass(frozen=True)
class EdgeSplit:
    """Positive edges per part (2 x E, source < target) and the sampled non-edges of validation and test."""

    train: np.ndarray
    validation: np.ndarray
    validation_negative: np.ndarray
    test: np.ndarray
    test_negative: np.ndarray

    def sizes(self) -> dict[str, int]:
        return {"train": int(self.train.shape[1]), "validation": int(self.validation.shape[1]),
                "test": int(self.test.shape[1])}


def sample_non_edges(edges: np.ndarray, num_nodes: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` distinct node pairs (source < target) that are no edge of the graph: the negatives."""
    free = num_nodes * (num_nodes - 1) // 2 - edges.shape[1]
    if count > free:
        raise ValueError(f"cannot sample {count} non-edges: the graph has only {free}")
    existing = np.sort(edges[0] * num_nodes + edges[1])
    chosen = np.empty(0, dtype=np.int64)
    while len(chosen) < count:
        a, b = rng.integers(0, num_nodes, size=(2, 2 * (count - len(chosen)) + 16))
        keys = np.minimum(a, b) * num_nodes + np.maximum(a, b)
        keys = keys[(a != b) & ~np.isin(keys, existing) & ~np.isin(keys, chosen)]
        _, first = np.unique(keys, return_index=True)
        chosen = np.concatenate([chosen, keys[np.sort(first)]])
    chosen = chosen[:count]
    return np.stack([chosen // num_nodes, chosen % num_nodes])


def split_edges(edges: np.ndarray, num_nodes: int, validation_fraction: float, test_fraction: float,
                seed: int) -> EdgeSplit:
    """The GAE paper's split: shuffle the undirected edges, hold out floor(E * fraction) for validation and test."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(edges.shape[1])
    n_validation = int(edges.shape[1] * validation_fraction)
    n_test = int(edges.shape[1] * test_fraction)
    if min(n_validation, n_test) < 1 or n_validation + n_test >= edges.shape[1]:
        raise ValueError(f"{edges.shape[1]} edges cannot be split into validation {validation_fraction} and "
                         f"test {test_fraction} with edges left to train on")
    negatives = sample_non_edges(edges, num_nodes, n_validation + n_test, rng)
    return EdgeSplit(train=edges[:, np.sort(order[n_test + n_validation:])],
                     validation=edges[:, np.sort(order[n_test:n_test + n_validation])],
                     validation_negative=negatives[:, :n_validation],
                     test=edges[:, np.sort(order[:n_test])], test_negative=negatives[:, n_validation:])


def build_model(features: np.ndarray | None, num_nodes: int, params: Mapping[str, Scalar]):
    """torch_geometric's VGAE around a GCN encoder of the node input (features, or a learned embedding per node)."""
    import torch
    import torch.nn.functional as F
    from torch_geometric.nn import VGAE, GCNConv

    hidden, latent = int(params["hidden_channels"]), int(params["latent_channels"])
    dropout = float(params["dropout"])

    class VariationalGCNEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.first = planetoid.first_layer(features, num_nodes, hidden, dropout)
            # The adjacency comes normalised (planetoid.normalised_adjacency), once for every layer.
            self.conv_mu = GCNConv(hidden, latent, normalize=False)
            self.conv_logstd = GCNConv(hidden, latent, normalize=False)

        def forward(self, adjacency: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            h = F.dropout(F.relu(self.first(adjacency)), p=dropout, training=self.training)
            return self.conv_mu(h, adjacency), self.conv_logstd(h, adjacency)

    return VGAE(VariationalGCNEncoder())


class LinkPredictionTask(TaskPlugin):
    name = "link-prediction"
    late_imports = ("torch", "torch_geometric.nn", "sklearn.metrics")
    options = (*planetoid.OPTIONS, SPLIT_SEED, VALIDATION_FRACTION, TEST_FRACTION, *TORCH_OPTIONS)
    metrics = ("auc", "train_loss", "best_validation_auc", "best_epoch",
               *(f"{part}_{score}" for part in ("validation", "test") for score in ("loss", "auc", "ap")))
    default_objective = Objective("auc", "maximize")
    default_space = SPACE
    # Kipf and Welling's VGAE (lr 0.01, 32 hidden, 16 latent, no dropout, 200 epochs; the least weight decay).
    param_defaults = {"learning_rate": 0.01, "hidden_channels": 32, "latent_channels": 16, "dropout": 0.0,
                      "weight_decay": 1e-8, "epochs": 200}
    description = ("Variational graph auto-encoder (VGAE, Kipf & Welling 2016) for link prediction on a Planetoid "
                   "citation graph: a two-layer GCN encoder gives each node a Gaussian latent vector and an "
                   "inner-product decoder scores node pairs; objective ROC AUC on held-out validation edges "
                   "against as many sampled non-edges.")

    def load(self, ctx: TrialContext) -> tuple[planetoid.PlanetoidGraph, EdgeSplit]:
        validation_fraction, test_fraction = ctx.option(VALIDATION_FRACTION), ctx.option(TEST_FRACTION)
        seed = ctx.option(SPLIT_SEED)
        graph = planetoid.load_graph(ctx, self.name)
        return graph, split_edges(graph.edges, graph.num_nodes, validation_fraction, test_fraction, seed)

    def profile(self, ctx: TrialContext) -> dict[str, Any]:
        graph, split = self.load(ctx)
        profile = planetoid.profile(graph)
        for key in ("classes", "class_shares"):  # link prediction never sees the node labels
            profile.pop(key)
        return {**profile, "edge_split": split.sizes(), "negatives": "as many sampled non-edges as positives "
                                                                     "for validation and test"}

    def check_data(self, ctx: TrialContext) -> list[ContractReport]:
        return planetoid.check_data(ctx, self.name, node_labels=False)

    def train(self, params: Mapping[str, Scalar], ctx: TrialContext) -> dict[str, float]:
        import torch
        import torch.nn.functional as F

        from agenthpo.tasks.torch_support import check_finite, epoch_numbers, make_optimizer, prepare

        device = prepare(ctx)
        graph, split = self.load(ctx)

        def tensor(edges: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(edges, device=device)

        train_edges = tensor(split.train)
        # Messages flow along the training edges only: validation and test edges stay unseen.
        message_graph = planetoid.normalised_adjacency(split.train, graph.num_nodes, device)
        # Raw binary features, as the GAE paper feeds them: row-normalised ones train several times slower here.
        model = build_model(graph.features, graph.num_nodes, params).to(device)
        optimizer = make_optimizer("adam", model.parameters(), float(params["learning_rate"]),
                                   float(params["weight_decay"]))

        def evaluate(positive: np.ndarray, negative: np.ndarray, part: str) -> dict[str, float]:
            from sklearn.metrics import average_precision_score, roc_auc_score

            model.eval()
            with torch.no_grad():
                z = model.encode(message_graph)
                pos = model.decoder(z, tensor(positive), sigmoid=False)
                neg = model.decoder(z, tensor(negative), sigmoid=False)
            # The same form as the training reconstruction loss: mean BCE of the positives plus of the negatives.
            loss = (F.binary_cross_entropy_with_logits(pos, torch.ones_like(pos))
                    + F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg))).item()
            truth = np.concatenate([np.ones(pos.shape[0]), np.zeros(neg.shape[0])])
            scores = torch.cat([pos, neg]).cpu().numpy()
            return {f"{part}_loss": loss, f"{part}_auc": float(roc_auc_score(truth, scores)),
                    f"{part}_ap": float(average_precision_score(truth, scores))}

        best = (-1.0, 0)
        for epoch in epoch_numbers(params):
            model.train()
            optimizer.zero_grad()
            z = model.encode(message_graph)
            # Uniform random pairs as negatives: on graphs this sparse (density below 0.1%) few are true edges,
            # and drawing them on the device is far cheaper than PyG's exact negative_sampling, which runs in Python.
            negatives = torch.randint(0, graph.num_nodes, train_edges.shape, device=device)
            loss = model.recon_loss(z, train_edges, negatives) + model.kl_loss() / graph.num_nodes
            check_finite(loss, epoch)
            loss.backward()
            optimizer.step()
            scores = evaluate(split.validation, split.validation_negative, "validation")
            ctx.report(epoch, train_loss=loss.item(), validation_loss=scores["validation_loss"],
                       validation_auc=scores["validation_auc"], validation_ap=scores["validation_ap"])
            best = max(best, (scores["validation_auc"], -epoch))
        return {"auc": scores["validation_auc"], **scores, **evaluate(split.test, split.test_negative, "test"),
                "train_loss": loss.item(), "best_validation_auc": best[0], "best_epoch": float(-best[1])}


LINK_PREDICTION = LinkPredictionTask()
