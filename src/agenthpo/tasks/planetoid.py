"""The Planetoid citation graphs (Cora, CiteSeer, PubMed) as Kipf's GCN repository ships them, for the graph plug-ins.

`data` is the folder of the `ind.<dataset>.*` files: pickles of scipy sparse matrices (x, tx, allx: features of the
training, test and all non-test nodes), numpy one-hot labels (y, ty, ally), the adjacency lists (graph) and the test
node ids (test.index). The standard split is Kipf's: the first len(y) nodes train, the next 500 validate, the nodes
of test.index test. Loading needs numpy and scipy only, so the data contract and the profile never import torch;
the model parts both plug-ins share (normalised_adjacency, first_layer) import it when called.

Options read here (`OPTIONS`, declared by node-classification and link-prediction):
  dataset: cora | citeseer | pubmed (default cora)
  features: given | identity | degree. `given` reads the bag-of-words features; `identity` gives every node its own
    learned embedding (one-hot input without an N x N matrix); `degree` one-hot encodes the node degree. The default is
    `given`, except for pubmed whose `ind.pubmed.allx` is missing from the shared data: there it is `identity`, the
    GAE paper's featureless variant.
"""

from __future__ import annotations

import collections
import functools
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agenthpo.tasks.base import TrialContext
from agenthpo.tasks.contracts import ContractReport, expect, validate_frame
from agenthpo.tasks.options import Option, one_of


@dataclass(frozen=True)
class DatasetFacts:
    """The published sizes of a Planetoid dataset (Kipf & Welling 2017, Table 1; PyG's undirected edge counts)."""

    nodes: int
    undirected_edges: int
    classes: int
    features: int
    train: int


DATASETS: dict[str, DatasetFacts] = {
    "cora": DatasetFacts(nodes=2708, undirected_edges=5278, classes=7, features=1433, train=140),
    "citeseer": DatasetFacts(nodes=3327, undirected_edges=4552, classes=6, features=3703, train=120),
    "pubmed": DatasetFacts(nodes=19717, undirected_edges=44324, classes=3, features=500, train=60),
}
FEATURE_MODES = ("given", "identity", "degree")
VALIDATION_NODES = 500
TEST_NODES = 1000
# Degrees above this share the last one-hot slot: a few hubs need no columns of their own.
DEGREE_BUCKETS = 64

DATASET = Option("dataset", str, "cora", one_of(*sorted(DATASETS)), "which Planetoid graph the folder's files hold")
FEATURES = Option("features", str, None, one_of(*FEATURE_MODES), "the node input: given bag-of-words features, "
                  "identity (a learned embedding per node) or degree (one-hot); default given, identity for pubmed")
OPTIONS = (DATASET, FEATURES)


@functools.cache
def _allowed_globals() -> dict[tuple[str, str], Any]:
    import scipy.sparse

    reconstruct = np.ndarray((0,)).__reduce__()[0]
    return {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
            ("numpy.core.multiarray", "_reconstruct"): reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): reconstruct,
            ("scipy.sparse.csr", "csr_matrix"): scipy.sparse.csr_matrix,
            ("scipy.sparse._csr", "csr_matrix"): scipy.sparse.csr_matrix,
            ("collections", "defaultdict"): collections.defaultdict,
            ("__builtin__", "list"): list, ("builtins", "list"): list}


class _PlanetoidUnpickler(pickle.Unpickler):
    """Builds only the numpy, scipy and container objects these files hold: a pickle can run any code it names."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _allowed_globals()[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: not part of a Planetoid file") from None


@dataclass(frozen=True)
class PlanetoidFiles:
    """What the files hold, in node order (Kipf's layout: test rows go to the nodes test.index names)."""

    dataset: str
    folder: Path
    adjacency: Mapping[int, list[int]]
    onehot: np.ndarray
    features: np.ndarray | None  # nodes x features, or None when not read
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray

    @property
    def num_nodes(self) -> int:
        return int(self.onehot.shape[0])

    @property
    def labels(self) -> np.ndarray:
        """Class per node; -1 where the files give none (CiteSeer's nodes missing from its test set)."""
        return np.where(self.onehot.sum(axis=1) > 0, self.onehot.argmax(axis=1), -1).astype(np.int64)

    def raw_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Every adjacency-list entry as (source, target), ids as written."""
        sources = np.repeat(np.fromiter(self.adjacency.keys(), dtype=np.int64),
                            [len(v) for v in self.adjacency.values()])
        targets = np.fromiter((t for v in self.adjacency.values() for t in v), dtype=np.int64, count=len(sources))
        return sources, targets


@dataclass(frozen=True)
class PlanetoidGraph:
    """The graph a model trains on: each undirected edge once (source < target), no self-loops."""

    dataset: str
    num_nodes: int
    num_classes: int
    edges: np.ndarray
    labels: np.ndarray
    features: np.ndarray | None  # dense float32 model input; None: a learned embedding per node
    feature_mode: str
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray

    def degrees(self) -> np.ndarray:
        return np.bincount(self.edges.ravel(), minlength=self.num_nodes)


def normalised_adjacency(edges: np.ndarray, num_nodes: int, device):
    """D^-1/2 (A + I) D^-1/2 over both directions of each edge, as a torch sparse CSR matrix.

    Normalised once and shared by every layer (GCNConv with normalize=False); the sparse-matrix product propagates
    faster than gather/scatter over an edge list, on CPU as on CUDA.
    """
    import torch
    from torch_geometric.nn.conv.gcn_conv import gcn_norm
    from torch_geometric.utils import to_torch_csr_tensor

    index = torch.as_tensor(np.concatenate([edges, edges[::-1]], axis=1), device=device)
    return gcn_norm(to_torch_csr_tensor(index, size=(num_nodes, num_nodes)), num_nodes=num_nodes)[0]


def first_layer(features: np.ndarray | None, num_nodes: int, out_channels: int, dropout: float):
    """The first graph convolution, A_hat X W + b, as a module called with the normalised adjacency; in training,
    dropout hits its input X.

    With features, dropout touches only their nonzero entries: the same result as torch's dropout, zeros staying
    zero, without a random draw for each of Cora's 2708 x 1433 mostly-zero entries. Featureless (features None), X is
    the identity, so the layer is A_hat W with W one learned row per node (the GAE paper's featureless input, without
    an N x N matrix), and dropping a node's one-hot input drops its row of W.
    """
    import torch
    from torch_geometric.nn import GCNConv
    from torch_geometric.nn.inits import glorot

    class FirstLayer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            if features is None:
                self.weight = torch.nn.Parameter(torch.empty(num_nodes, out_channels))
                self.bias = torch.nn.Parameter(torch.zeros(out_channels))
                glorot(self.weight)
            else:
                self.conv = GCNConv(features.shape[1], out_channels, normalize=False)
                self.register_buffer("features", torch.as_tensor(features))
                self.register_buffer("nonzero", self.features.nonzero(as_tuple=False).t())
                self.register_buffer("values", self.features[self.nonzero[0], self.nonzero[1]])

        def forward(self, adjacency: torch.Tensor) -> torch.Tensor:
            dropping = self.training and dropout > 0.0
            if features is None:
                weight = self.weight
                if dropping:
                    keep = torch.rand(num_nodes, 1, device=weight.device) >= dropout
                    weight = weight * keep / (1.0 - dropout)
                return torch.sparse.mm(adjacency, weight) + self.bias
            x = self.features
            if dropping:
                keep = torch.rand(self.values.shape, device=x.device) >= dropout
                x = torch.zeros_like(x).index_put((self.nonzero[0], self.nonzero[1]),
                                                  self.values * keep / (1.0 - dropout))
            return self.conv(x, adjacency)

    return FirstLayer()


def feature_mode(ctx: TrialContext, dataset: str) -> str:
    """task_options.features, by default given, except for pubmed, whose shared files lack most features."""
    return ctx.option(FEATURES) or ("identity" if dataset == "pubmed" else "given")


def _folder(ctx: TrialContext, task: str) -> Path:
    if not ctx.data:
        raise ValueError(f"task {task!r} needs `data`: the folder of the Planetoid ind.<dataset>.* files")
    folder = Path(ctx.data)
    if not folder.is_dir():
        raise ValueError(f"data={ctx.data!r} is not a folder (expected the Planetoid ind.<dataset>.* files)")
    return folder


def read_pickle(path: Path) -> Any:
    if not path.exists():
        raise ValueError(f"Planetoid file missing: {path}")
    try:
        with path.open("rb") as handle:
            return _PlanetoidUnpickler(handle, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None


def _read_test_index(path: Path) -> np.ndarray:
    if not path.exists():
        raise ValueError(f"Planetoid file missing: {path}")
    try:
        index = np.loadtxt(path, dtype=np.int64, ndmin=1)
    except ValueError as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    if index.size == 0 or index.min() < 0:
        raise ValueError(f"{path}: test node ids must be non-negative integers, one a line")
    return index


def _in_node_order(rest: np.ndarray, test_rows: np.ndarray, test_index: np.ndarray, num_nodes: int,
                   what: str) -> np.ndarray:
    """Rows of `rest` are nodes 0..len-1; row k of `test_rows` is node test_index[k]; other nodes stay zero."""
    if rest.ndim != 2 or test_rows.ndim != 2 or rest.shape[1] != test_rows.shape[1] \
            or test_rows.shape[0] != len(test_index):
        raise ValueError(f"{what}: shapes {rest.shape} and {test_rows.shape} do not fit {len(test_index)} test nodes")
    ordered = np.zeros((num_nodes, rest.shape[1]), dtype=np.result_type(rest.dtype, test_rows.dtype))
    ordered[: rest.shape[0]] = rest
    ordered[test_index] = test_rows
    return ordered


def _dense(matrix: Any) -> np.ndarray:
    return np.asarray(matrix.toarray() if hasattr(matrix, "toarray") else matrix)


def read_files(folder: Path, dataset: str, with_features: bool) -> PlanetoidFiles:
    """The raw files of one dataset; ValueError (naming the file) when one is missing or unreadable."""
    def part(suffix: str) -> Any:
        return read_pickle(folder / f"ind.{dataset}.{suffix}")

    y, ally, ty = part("y"), part("ally"), part("ty")
    test_index = _read_test_index(folder / f"ind.{dataset}.test.index")
    adjacency = part("graph")
    if not isinstance(adjacency, Mapping):
        raise ValueError(f"{folder / f'ind.{dataset}.graph'}: expected a dict of adjacency lists, "
                         f"got {type(adjacency).__name__}")
    num_nodes = max(len(ally), int(test_index.max()) + 1)
    onehot = _in_node_order(np.asarray(ally), np.asarray(ty), test_index, num_nodes, f"ind.{dataset}.ally/ty")
    features = None
    if with_features:
        allx_path = folder / f"ind.{dataset}.allx"
        if not allx_path.exists():
            raise ValueError(f"Planetoid file missing: {allx_path}, so features: given cannot work for {dataset}; "
                             f"use task_options.features: identity or degree (featureless input)")
        features = _in_node_order(_dense(part("allx")), _dense(part("tx")), test_index, num_nodes,
                                  f"ind.{dataset}.allx/tx")
    train = np.arange(len(y))
    return PlanetoidFiles(dataset=dataset, folder=folder, adjacency=adjacency, onehot=onehot, features=features,
                          train=train, validation=np.arange(len(y), len(y) + VALIDATION_NODES),
                          test=np.sort(test_index))


def undirected_edges(files: PlanetoidFiles) -> np.ndarray:
    """Each undirected edge once, source < target; self-loops dropped (GCN adds its own)."""
    sources, targets = files.raw_pairs()
    low, high = np.minimum(sources, targets), np.maximum(sources, targets)
    keep = low != high
    width = np.int64(max(files.num_nodes, int(high.max(initial=0)) + 1))
    keys = np.unique(low[keep] * width + high[keep])
    return np.stack([keys // width, keys % width])


def degree_features(edges: np.ndarray, num_nodes: int) -> np.ndarray:
    degrees = np.minimum(np.bincount(edges.ravel(), minlength=num_nodes), DEGREE_BUCKETS - 1)
    return np.eye(DEGREE_BUCKETS, dtype=np.float32)[degrees]


def load_graph(ctx: TrialContext, task: str) -> PlanetoidGraph:
    """The graph named by task_options.dataset with the input features task_options.features asks for."""
    dataset = ctx.option(DATASET)
    mode = feature_mode(ctx, dataset)
    files = read_files(_folder(ctx, task), dataset, with_features=mode == "given")
    edges = undirected_edges(files)
    if edges.size and edges.max() >= files.num_nodes:
        raise ValueError(f"{files.folder / f'ind.{dataset}.graph'}: an edge names node {int(edges.max())}, but "
                         f"the labels cover only {files.num_nodes} nodes (check_data reports the details)")
    if mode == "given":
        features = files.features.astype(np.float32)
    elif mode == "degree":
        features = degree_features(edges, files.num_nodes)
    else:
        features = None
    return PlanetoidGraph(dataset=dataset, num_nodes=files.num_nodes, num_classes=int(files.onehot.shape[1]),
                          edges=edges, labels=files.labels, features=features, feature_mode=mode,
                          train=files.train, validation=files.validation, test=files.test)


def describe_input(graph: PlanetoidGraph) -> str:
    if graph.feature_mode == "given":
        return f"{graph.features.shape[1]} bag-of-words features per node"
    if graph.feature_mode == "degree":
        return f"featureless: one-hot node degree ({DEGREE_BUCKETS} buckets)"
    return "featureless: one learned embedding per node"


def profile(graph: PlanetoidGraph) -> dict[str, Any]:
    """Graph statistics for the Creator's background."""
    degrees = graph.degrees()
    labelled = graph.labels[graph.labels >= 0]
    shares = np.bincount(labelled, minlength=graph.num_classes) / max(len(labelled), 1)
    return {
        "dataset": graph.dataset, "nodes": graph.num_nodes, "undirected_edges": int(graph.edges.shape[1]),
        "mean_degree": round(float(degrees.mean()), 2), "max_degree": int(degrees.max()),
        "isolated_nodes": int(np.sum(degrees == 0)), "classes": graph.num_classes,
        "class_shares": {str(c): round(float(s), 3) for c, s in enumerate(shares)},
        "input_features": describe_input(graph),
    }


def contract_frames(files: PlanetoidFiles) -> dict[str, Any]:
    """Small tables that describe the files: one row per node, per split node, per undirected edge, per feature row."""
    import pandas as pd

    marks = files.onehot.sum(axis=1).astype(np.int64)

    def marks_of(nodes: np.ndarray) -> np.ndarray:
        # Split ids past the last node have no label row: zero marks, which the contract rejects.
        return np.where(nodes < files.num_nodes, marks[np.minimum(nodes, files.num_nodes - 1)], 0)

    split = np.full(files.num_nodes, "other", dtype=object)
    parts = {"train": files.train, "validation": files.validation, "test": files.test}
    for name, nodes in parts.items():
        split[nodes[nodes < files.num_nodes]] = name
    split_nodes = np.concatenate(list(parts.values()))
    pairs = undirected_edges(files)
    frames = {
        "nodes": pd.DataFrame({"node": np.arange(files.num_nodes), "label": files.labels, "label_marks": marks,
                               "split": split}),
        "split_nodes": pd.DataFrame({"node": split_nodes, "label_marks": marks_of(split_nodes),
                                     "split": np.repeat(list(parts), [len(v) for v in parts.values()])}),
        "edges": pd.DataFrame({"source": pairs[0], "target": pairs[1]}),
    }
    if files.features is not None:
        frames["features"] = pd.DataFrame({
            "nonzeros": np.count_nonzero(files.features, axis=1),
            "negatives": np.sum(files.features < 0, axis=1),
            "non_finite": np.sum(~np.isfinite(files.features), axis=1),
            "width": files.features.shape[1],
        })
    return frames


def check_data(ctx: TrialContext, task: str, node_labels: bool) -> list[ContractReport]:
    """The Planetoid data contract: published sizes, edges within the graph, finite non-negative features and, where
    the task learns from node labels, one-hot labels with every class present and a leak-free split."""
    dataset = ctx.option(DATASET)
    facts = DATASETS[dataset]
    files = read_files(_folder(ctx, task), dataset, with_features=feature_mode(ctx, dataset) == "given")
    frames = contract_frames(files)
    last_node = facts.nodes - 1
    split_rows = facts.train + VALIDATION_NODES + TEST_NODES
    label_checks = [
        expect("column_values_to_be_in_set", column="label_marks", value_set=[0, 1]),
        expect("column_distinct_values_to_contain_set", column="label", value_set=list(range(facts.classes))),
        # One-hot rows wider than the class count give labels past the last class.
        expect("column_values_to_be_between", column="label", min_value=-1, max_value=facts.classes - 1),
    ]
    checks = {
        "nodes": [expect("table_row_count_to_equal", value=facts.nodes), *(label_checks if node_labels else [])],
        "split_nodes": [
            expect("table_row_count_to_equal", value=split_rows),
            expect("column_values_to_be_unique", column="node"),
            expect("column_values_to_be_between", column="node", min_value=0, max_value=last_node),
            expect("column_values_to_be_in_set", column="label_marks", value_set=[1]),
        ],
        "edges": [
            expect("table_row_count_to_equal", value=facts.undirected_edges),
            expect("column_values_to_be_between", column="source", min_value=0, max_value=last_node),
            expect("column_values_to_be_between", column="target", min_value=0, max_value=last_node),
        ],
        "features": [
            expect("table_row_count_to_equal", value=facts.nodes),
            expect("column_values_to_be_in_set", column="width", value_set=[facts.features]),
            expect("column_values_to_be_in_set", column="negatives", value_set=[0]),
            expect("column_values_to_be_in_set", column="non_finite", value_set=[0]),
            # CiteSeer's nodes missing from its files have empty rows; a few, not many, may.
            expect("column_values_to_be_between", column="nonzeros", min_value=1, mostly=0.99),
        ],
    }
    if not node_labels:
        frames.pop("split_nodes")
    return [validate_frame(f"{dataset}.{table}", frame, checks[table]) for table, frame in frames.items()]
