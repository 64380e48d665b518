"""`agenthpo init`'s rules: what the data is, which plug-in, target and metric, and the LLM's choices checked."""

import pandas as pd
import pytest
from conftest import DATA

from agenthpo.drafting import by_rules, inspect, mentioned, spec_from
from agenthpo.spec import parse_spec


def table(tmp_path, name="data.csv", **columns):
    path = tmp_path / name
    pd.DataFrame(columns).to_csv(path, index=False)
    return path


def test_mentions_are_whole_words_in_any_case():
    found = mentioned("Predict the sale_price of each house", ["Price", "sale_price", "rooms"])
    assert found == ["Price", "sale_price"]  # the target rule takes the longest
    assert mentioned("the sale price", ["sale_price", "sale_priced"]) == ["sale_price"]
    assert mentioned("optimise F1 please", ["f1", "validation_f1"]) == ["f1"]


def test_the_named_column_is_the_target_and_few_whole_values_classify(tmp_path):
    path = table(tmp_path, churned=[0, 1] * 50, age=range(100), plan=["a", "b"] * 50)
    draft = by_rules("will a customer have churned next month", inspect(path))
    assert draft.task == "xgboost-classification" and draft.options["target"] == "churned"
    assert draft.options["labels"] == [0, 1] and draft.metric == "f1" and draft.direction == "maximize"
    assert draft.choices[0] == "target: churned (named in the sentence)"


def test_a_conventional_name_then_the_last_column(tmp_path):
    assert by_rules("tune it", inspect(table(tmp_path, label=[0, 1] * 10, x=range(20)))).options["target"] == "label"
    draft = by_rules("tune it", inspect(table(tmp_path, x=range(30), y2=[i * 1.5 for i in range(30)])))
    assert draft.options["target"] == "y2" and draft.task == "xgboost-regression" and draft.metric == "r2"


def test_the_longest_named_column_is_the_target(tmp_path):
    path = table(tmp_path, price=range(30), sale_price=[i * 2.5 for i in range(30)])
    assert by_rules("predict the sale price", inspect(path)).options["target"] == "sale_price"


def test_regression_words_and_a_named_metric(tmp_path):
    path = table(tmp_path, rooms=[1, 2, 3] * 10, price=[1, 2, 3] * 10)
    draft = by_rules("estimate the price, minimising validation_rmse", inspect(path))
    assert draft.task == "xgboost-regression" and draft.options["target"] == "price"
    assert draft.metric == "validation_rmse" and draft.direction == "minimize"


def test_a_column_of_prose_is_text_classification(tmp_path):
    path = table(tmp_path, "reviews.csv", stars=["good", "bad"] * 10,
                 review=["this product broke after two days of use"] * 20)
    shape = inspect(path)
    draft = by_rules("classify the reviews", shape)
    assert shape.kind == "text" and draft.task == "text-classification"
    assert draft.options == {"model_name": "minilm", "labels": ["bad", "good"], "label_column": "stars",
                             "text_column": "review"}


def test_label_sentence_lines_and_split_folders_are_text(tmp_path):
    (tmp_path / "lines.txt").write_text("pos a lovely film indeed\nneg a dull film sadly\n")
    shape = inspect(tmp_path / "lines.txt")
    assert shape.kind == "text" and by_rules("sentiment", shape).options == {"model_name": "minilm",
                                                                              "labels": ["neg", "pos"]}
    assert inspect(DATA / "sst2").kind == "text"


def test_a_planetoid_folder_is_a_graph_and_links_ask_for_link_prediction():
    shape = inspect(DATA / "planetoid")
    assert shape.kind == "graph" and "cora" in shape.datasets
    assert by_rules("classify papers", shape).task == "node-classification"
    linked = by_rules("predict missing links in pubmed", shape)
    assert linked.task == "link-prediction" and linked.options == {"dataset": "pubmed"} and linked.metric == "auc"


def test_the_llms_choices_replace_the_rules(tmp_path):
    path = table(tmp_path, a=[0, 1] * 10, b=[0, 1, 2, 3] * 5)
    draft = by_rules("tune", inspect(path), task="xgboost-regression", target="a", metric="validation_rmse")
    assert draft.task == "xgboost-regression" and draft.options["target"] == "a"
    assert draft.metric == "validation_rmse" and draft.direction == "minimize"
    assert draft.choices[-1] == "the LLM chose: task xgboost-regression, target a, metric validation_rmse"


def test_the_draft_is_a_valid_spec(tmp_path, water_csv):
    shape = inspect(water_csv)
    data = spec_from("predict whether water is potable", shape, by_rules("predict whether water is potable", shape))
    spec = parse_spec(data, base_dir=tmp_path)
    assert spec.name == "water_potability" and spec.description.startswith("predict whether water is potable.")
    assert "rows: 3276" in spec.description and len(spec.space) == 10


@pytest.mark.parametrize("bad, message", [("missing.csv", "does not exist"), ("folder", "neither Planetoid")])
def test_unusable_data_is_named(tmp_path, bad, message):
    (tmp_path / "folder").mkdir()
    with pytest.raises(ValueError, match=message):
        inspect(tmp_path / bad)
