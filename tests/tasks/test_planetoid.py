"""The Planetoid loader and data contract shared by the graph plug-ins (no torch needed)."""

import json
import pickle
import shutil
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest
from conftest import DATA

from agenthpo.tasks import TrialContext, planetoid

PLANETOID = DATA / "planetoid"


@pytest.fixture
def planetoid_dir():
    assert (PLANETOID / "ind.cora.graph").exists(), f"dataset missing: {PLANETOID} (or set AGENTHPO_DATA)"
    return PLANETOID


@pytest.fixture
def cora_copy(planetoid_dir, tmp_path):
    """A writable copy of the Cora files, to break."""
    for path in planetoid_dir.glob("ind.cora.*"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def read(folder, name):
    return planetoid.read_pickle(folder / name)


def write(folder, name, value):
    with (folder / name).open("wb") as handle:
        pickle.dump(value, handle)


def test_cora_loads_with_the_standard_split(planetoid_dir):
    graph = planetoid.load_graph(TrialContext(str(planetoid_dir), {"dataset": "cora"}), "t")
    assert (graph.num_nodes, graph.num_classes, graph.edges.shape) == (2708, 7, (2, 5278))
    assert graph.features.shape == (2708, 1433) and set(np.unique(graph.features)) == {0.0, 1.0}
    assert np.all(graph.edges[0] < graph.edges[1]) and graph.edges.max() == 2707
    assert list(graph.train) == list(range(140)) and list(graph.validation) == list(range(140, 640))
    assert len(graph.test) == 1000 and graph.test.min() == 1708 and len(set(graph.test)) == 1000
    assert graph.labels.min() == 0 and graph.labels.max() == 6
    # Kipf's layout: row k of ty belongs to the k-th node named in test.index.
    first_test_node = int(np.loadtxt(planetoid_dir / "ind.cora.test.index", dtype=int)[0])
    assert graph.labels[first_test_node] == read(planetoid_dir, "ind.cora.ty")[0].argmax()


def test_pubmed_is_featureless_by_default(planetoid_dir):
    identity = planetoid.load_graph(TrialContext(str(planetoid_dir), {"dataset": "pubmed"}), "t")
    assert identity.feature_mode == "identity" and identity.features is None
    assert (identity.num_nodes, identity.edges.shape[1], identity.num_classes) == (19717, 44324, 3)
    degree = planetoid.load_graph(TrialContext(str(planetoid_dir), {"dataset": "pubmed", "features": "degree"}), "t")
    assert degree.features.shape == (19717, planetoid.DEGREE_BUCKETS)
    assert np.all(degree.features.sum(axis=1) == 1.0)
    with pytest.raises(ValueError, match=r"ind\.pubmed\.allx, so features: given cannot work for pubmed"):
        planetoid.load_graph(TrialContext(str(planetoid_dir), {"dataset": "pubmed", "features": "given"}), "t")


def test_test_nodes_missing_from_the_files_stay_unlabelled(tmp_path):
    """CiteSeer's layout: test.index skips some ids; those nodes get no features and no label (Kipf's fix)."""
    import scipy.sparse

    eye = np.eye(3, dtype=np.int32)
    write(tmp_path, "ind.citeseer.y", eye[[0, 1]])
    write(tmp_path, "ind.citeseer.ally", eye[[0, 1, 2, 0, 1, 2]])
    write(tmp_path, "ind.citeseer.ty", eye[[2, 1, 0]])
    write(tmp_path, "ind.citeseer.x", scipy.sparse.csr_matrix(np.ones((2, 4), dtype=np.float32)))
    write(tmp_path, "ind.citeseer.allx", scipy.sparse.csr_matrix(np.ones((6, 4), dtype=np.float32)))
    write(tmp_path, "ind.citeseer.tx", scipy.sparse.csr_matrix(np.full((3, 4), 2.0, dtype=np.float32)))
    write(tmp_path, "ind.citeseer.graph", {0: [1, 9], 1: [0], 9: [0, 9]})
    (tmp_path / "ind.citeseer.test.index").write_text("7\n6\n9\n")
    graph = planetoid.load_graph(TrialContext(str(tmp_path), {"dataset": "citeseer"}), "t")
    assert graph.num_nodes == 10 and list(graph.test) == [6, 7, 9]
    assert list(graph.labels) == [0, 1, 2, 0, 1, 2, 1, 2, -1, 0]
    assert graph.features[8].sum() == 0 and graph.features[7].sum() == 8.0
    assert graph.edges.tolist() == [[0, 0], [1, 9]]  # deduplicated, self-loop dropped


def test_profile_is_json_and_describes_the_graph(planetoid_dir):
    profile = planetoid.profile(planetoid.load_graph(TrialContext(str(planetoid_dir), {}), "t"))
    json.dumps(profile)
    assert profile["nodes"] == 2708 and profile["undirected_edges"] == 5278 and profile["classes"] == 7
    assert profile["isolated_nodes"] == 0 and profile["max_degree"] == 168
    assert sum(profile["class_shares"].values()) == pytest.approx(1.0, abs=0.01)
    assert profile["input_features"] == "1433 bag-of-words features per node"


def test_bad_options_and_paths_are_clear_errors(planetoid_dir, tmp_path):
    with pytest.raises(ValueError, match=r"task_options.dataset: 'imagenet' must be one of \['citeseer', 'cora'"):
        planetoid.load_graph(TrialContext(str(planetoid_dir), {"dataset": "imagenet"}), "t")
    with pytest.raises(ValueError, match=r"task_options.features: 'word2vec' must be one of \['given', 'identity'"):
        planetoid.load_graph(TrialContext(str(planetoid_dir), {"features": "word2vec"}), "t")
    with pytest.raises(ValueError, match=r"task 't' needs `data`"):
        planetoid.load_graph(TrialContext(None, {}), "t")
    with pytest.raises(ValueError, match=r"data='/no/such/folder' is not a folder"):
        planetoid.load_graph(TrialContext("/no/such/folder", {}), "t")
    with pytest.raises(ValueError, match=r"Planetoid file missing: .*ind\.citeseer\.y"):
        planetoid.load_graph(TrialContext(str(planetoid_dir), {"dataset": "citeseer"}), "t")


def test_truncated_and_foreign_pickles_are_refused(cora_copy):
    ctx = TrialContext(str(cora_copy), {})
    allx = (cora_copy / "ind.cora.allx").read_bytes()
    (cora_copy / "ind.cora.allx").write_bytes(allx[: len(allx) // 2])
    with pytest.raises(ValueError, match=r"cannot read .*ind\.cora\.allx"):
        planetoid.check_data(ctx, "t", node_labels=True)
    # A pickle may name any callable; only the numpy, scipy and container types of these files are built.
    write(cora_copy, "ind.cora.y", OrderedDict(a=1))
    with pytest.raises(ValueError, match=r"ind\.cora\.y: refusing to load collections\.OrderedDict"):
        planetoid.read_files(cora_copy, "cora", with_features=False)


def test_contract_passes_on_the_real_data(planetoid_dir):
    reports = planetoid.check_data(TrialContext(str(planetoid_dir), {}), "t", node_labels=True)
    assert [(r.table, r.passed) for r in reports] == [("cora.nodes", True), ("cora.split_nodes", True),
                                                      ("cora.edges", True), ("cora.features", True)]
    assert [r.rows for r in reports] == [2708, 1640, 5278, 2708]
    pubmed = planetoid.check_data(TrialContext(str(planetoid_dir), {"dataset": "pubmed"}), "t", node_labels=False)
    assert [(r.table, r.passed, r.checked) for r in pubmed] == [("pubmed.nodes", True, 1), ("pubmed.edges", True, 3)]


def test_contract_rejects_a_broken_copy(cora_copy):
    ally = read(cora_copy, "ind.cora.ally")
    ally[5] = [1, 1, 0, 0, 0, 0, 0]  # two classes for one (training) node
    write(cora_copy, "ind.cora.ally", ally)
    graph = read(cora_copy, "ind.cora.graph")
    graph[0].append(5000)  # an edge to a node that does not exist
    write(cora_copy, "ind.cora.graph", graph)
    index = (cora_copy / "ind.cora.test.index").read_text().split()
    index[1] = index[0]  # one node in the test set twice
    (cora_copy / "ind.cora.test.index").write_text("\n".join(index) + "\n")
    allx = read(cora_copy, "ind.cora.allx")
    allx.data[0] = -3.0
    write(cora_copy, "ind.cora.allx", allx)

    reports = {r.table: r for r in planetoid.check_data(TrialContext(str(cora_copy), {}), "t", node_labels=True)}
    assert not any(r.passed for r in reports.values())
    assert any("expect_column_values_to_be_in_set(column='label_marks', value_set=[0, 1]): 1 unexpected value(s), "
               "e.g. [2]" in f for f in reports["cora.nodes"].failures)
    assert reports["cora.split_nodes"].failures == (
        f"expect_column_values_to_be_unique(column='node'): 2 unexpected value(s), e.g. {[int(index[0])] * 2}",
        "expect_column_values_to_be_in_set(column='label_marks', value_set=[1]): 1 unexpected value(s), e.g. [2]")
    edges = reports["cora.edges"].failures
    assert edges[0] == "expect_table_row_count_to_equal(value=5278): observed 5279"
    assert "expect_column_values_to_be_between(column='target', min_value=0, max_value=2707)" in edges[1]
    assert "[5000]" in edges[1]
    assert reports["cora.features"].failures[0].startswith(
        "expect_column_values_to_be_in_set(column='negatives', value_set=[0]): 1 unexpected value(s)")
    # Training refuses the dangling edge too, instead of indexing past the graph.
    with pytest.raises(ValueError, match=r"an edge names node 5000, but the labels cover only 2708 nodes"):
        planetoid.load_graph(TrialContext(str(cora_copy), {}), "t")


@pytest.mark.slow
def test_import_contract_and_profile_do_not_load_torch(planetoid_dir):
    # The contract and the profile run in the control step, which has no torch to spare.
    code = ("import sys\n"
            "from agenthpo.tasks import TrialContext, planetoid\n"
            "assert 'torch' not in sys.modules, 'import loaded torch'\n"
            f"ctx = TrialContext({str(planetoid_dir)!r}, {{}})\n"
            "assert all(r.passed for r in planetoid.check_data(ctx, 't', node_labels=True))\n"
            "planetoid.profile(planetoid.load_graph(ctx, 't'))\n"
            "assert 'torch' not in sys.modules, 'check_data or profile loaded torch'\n")
    subprocess.run([sys.executable, "-c", code], check=True)
