"""Node classification with a GCN (Kipf & Welling 2017) on a Planetoid citation graph: the paper's Cora task.

Full-batch, transductive training on the standard Planetoid split (Cora: 140 train / 500 validation / 1000 test
nodes) with PyG's GCNConv. The objective is the accuracy on the validation nodes after the last epoch; the test
accuracy is recorded beside it. The split is the files' own, so every trial sees the same nodes.

Options read: dataset, features (see agenthpo.tasks.planetoid), device and threads (agenthpo.tasks.torch_support).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from agenthpo.space import CategoricalParam, FloatParam, IntParam, OrdinalParam, Scalar, SearchSpace
from agenthpo.tasks import planetoid
from agenthpo.tasks.base import TaskPlugin, TrialContext
from agenthpo.tasks.contracts import ContractReport
from agenthpo.tasks.options import TORCH_OPTIONS
from agenthpo.trial import Objective

ACTIVATIONS = ("relu", "elu", "leaky_relu", "tanh", "gelu")
# The paper's Table 2 parameters for GCN (those its repository tuned); Kipf's defaults (lr 0.01, weight decay 5e-4,
# 16 hidden units, 2 layers, dropout 0.5, Adam, 200 epochs) lie inside every range.
SPACE = SearchSpace([
    FloatParam("learning_rate", 1e-3, 0.2, log=True),
    FloatParam("weight_decay", 1e-6, 1e-2, log=True),
    OrdinalParam("hidden_size", (8, 16, 32, 64, 128, 256)),
    IntParam("num_layers", 1, 4),
    FloatParam("dropout", 0.0, 0.8),
    CategoricalParam("activation", ACTIVATIONS),
    CategoricalParam("optimizer", ("adam", "adamw", "sgd", "rmsprop")),
    IntParam("epochs", 20, 500),
])


def row_normalised(features: np.ndarray) -> np.ndarray:
    """Each node's features summing to one, as Kipf's preprocessing does; empty rows stay zero."""
    sums = features.sum(axis=1, keepdims=True)
    return np.divide(features, sums, out=np.zeros_like(features), where=sums > 0)


def build_model(features: np.ndarray | None, num_nodes: int, num_classes: int, params: Mapping[str, Scalar]):
    """A stack of GCNConv layers over the node input (features, or a learned embedding per node when featureless)."""
    import torch
    import torch.nn.functional as F
    from torch_geometric.nn import GCNConv

    activation = {"relu": F.relu, "elu": F.elu, "leaky_relu": F.leaky_relu, "tanh": torch.tanh,
                  "gelu": F.gelu}[str(params["activation"])]
    hidden, layers, dropout = int(params["hidden_size"]), int(params["num_layers"]), float(params["dropout"])

    class GCN(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            widths = [hidden] * (layers - 1) + [num_classes]
            self.first = planetoid.first_layer(features, num_nodes, widths[0], dropout)
            # The adjacency comes normalised (planetoid.normalised_adjacency), once for every layer.
            self.convs = torch.nn.ModuleList(GCNConv(a, b, normalize=False) for a, b in zip(widths, widths[1:],
                                                                                             strict=False))

        def forward(self, adjacency: torch.Tensor) -> torch.Tensor:
            h = self.first(adjacency)
            for conv in self.convs:
                h = conv(F.dropout(activation(h), p=dropout, training=self.training), adjacency)
            return h

    return GCN()


class NodeClassificationTask(TaskPlugin):
    name = "node-classification"
    late_imports = ("torch", "torch_geometric.nn")
    pruning_curve = ("validation_accuracy", "maximize")
    step_name = "epoch"
    options = (*planetoid.OPTIONS, *TORCH_OPTIONS)
    metrics = ("accuracy", "best_validation_accuracy", "best_epoch",
               *(f"{part}_{score}" for part in ("train", "validation", "test") for score in ("loss", "accuracy")))
    default_objective = Objective("accuracy", "maximize")
    default_space = SPACE
    param_defaults = {"learning_rate": 0.01, "weight_decay": 5e-4, "hidden_size": 16, "num_layers": 2, "dropout": 0.5,
                      "activation": "relu", "optimizer": "adam", "epochs": 200}  # Kipf and Welling's
    description = ("Graph Convolutional Network (Kipf & Welling 2017) for semi-supervised node classification on a "
                   "Planetoid citation graph: GCNConv layers over the normalised adjacency, trained full-batch on "
                   "the few labelled nodes; objective accuracy on the 500 validation nodes.")

    def profile(self, ctx: TrialContext) -> dict[str, Any]:
        graph = planetoid.load_graph(ctx, self.name)
        return {**planetoid.profile(graph), "labelled_nodes": {"train": len(graph.train),
                                                               "validation": len(graph.validation),
                                                               "test": len(graph.test)}}

    def check_data(self, ctx: TrialContext) -> list[ContractReport]:
        return planetoid.check_data(ctx, self.name, node_labels=True)

    def train(self, params: Mapping[str, Scalar], ctx: TrialContext) -> dict[str, float]:
        import torch
        import torch.nn.functional as F

        from agenthpo.tasks.torch_support import check_finite, epoch_numbers, make_optimizer, prepare

        device = prepare(ctx)
        graph = planetoid.load_graph(ctx, self.name)
        adjacency = planetoid.normalised_adjacency(graph.edges, graph.num_nodes, device)
        labels = torch.as_tensor(graph.labels, device=device)
        parts = {name: torch.as_tensor(nodes, device=device) for name, nodes in
                 (("train", graph.train), ("validation", graph.validation), ("test", graph.test))}
        features = None if graph.features is None else row_normalised(graph.features)
        model = build_model(features, graph.num_nodes, graph.num_classes, params).to(device)
        optimizer = make_optimizer(str(params["optimizer"]), model.parameters(), float(params["learning_rate"]),
                                   float(params["weight_decay"]))

        def evaluate() -> dict[str, float]:
            model.eval()
            with torch.no_grad():
                logits = model(adjacency)
            scores = {}
            for name, nodes in parts.items():
                scores[f"{name}_loss"] = F.cross_entropy(logits[nodes], labels[nodes]).item()
                scores[f"{name}_accuracy"] = (logits[nodes].argmax(dim=1) == labels[nodes]).float().mean().item()
            return scores

        best = (-1.0, 0)
        ctx.last_step = max(epoch_numbers(params))
        for epoch in epoch_numbers(params):
            model.train()
            optimizer.zero_grad()
            loss = F.cross_entropy(model(adjacency)[parts["train"]], labels[parts["train"]])
            check_finite(loss, epoch)
            loss.backward()
            optimizer.step()
            scores = evaluate()
            ctx.report(epoch, train_loss=loss.item(), validation_loss=scores["validation_loss"],
                       validation_accuracy=scores["validation_accuracy"])
            best = max(best, (scores["validation_accuracy"], -epoch))
        # train_loss as the curve shows it (with dropout); train_accuracy from the evaluation pass.
        return {"accuracy": scores["validation_accuracy"], **scores, "train_loss": loss.item(),
                "best_validation_accuracy": best[0], "best_epoch": float(-best[1])}


NODE_CLASSIFICATION = NodeClassificationTask()
