"""A separate test set (`test_data:`): tables and texts take it; the data is then split into train and
validation only, and the contract checks the test file too."""

import pandas as pd
import pytest
import yaml
from conftest import DATA, ROOT

from agenthpo.errors import FieldError
from agenthpo.spec import load_spec, parse_spec
from agenthpo.tasks import TrialContext
from agenthpo.tasks.contracts import data_fingerprint
from agenthpo.tasks.text_classification import TEXT_CLASSIFICATION, load_splits
from agenthpo.tasks.xgboost_tabular import CLASSIFICATION, REGRESSION


def water_files(tmp_path, test_rows=676):
    frame = pd.read_csv(DATA / "water_potability" / "water_potability.csv")
    main, test = tmp_path / "water.csv", tmp_path / "water-test.csv"
    frame.iloc[:-test_rows].to_csv(main, index=False)
    frame.iloc[-test_rows:].to_csv(test, index=False)
    return main, test


def test_the_spec_resolves_it_beside_data_and_refuses_it_where_no_plug_in_reads_it(tmp_path):
    main, test = water_files(tmp_path)
    data = yaml.safe_load((ROOT / "examples" / "water-potability.yaml").read_text())
    data.update(data="water.csv", test_data="water-test.csv")
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(data))
    spec = load_spec(tmp_path / "spec.yaml")
    assert spec.test_data == str(test) and parse_spec(spec.to_json(), base_dir=None) == spec
    assert TrialContext.for_spec(spec).test_data == str(test)
    graph = yaml.safe_load((ROOT / "examples" / "cora-gcn.yaml").read_text())
    graph["test_data"] = "elsewhere"
    with pytest.raises(FieldError, match=r"test_data: '/.*/examples/elsewhere': task 'node-classification' takes no"):
        parse_spec(graph, base_dir=ROOT / "examples")


def test_xgboost_tests_on_the_test_file(tmp_path):
    main, test = water_files(tmp_path)
    frame = pd.read_csv(test)
    frame["Potability"] = 0  # no positive row: the positive class's F1 is 0 on it, whatever the model
    frame.to_csv(test, index=False)
    ctx = TrialContext(str(main), {"target": "Potability", "nthread": 1}, test_data=str(test))
    params = {"n_estimators": 20, "max_depth": 3}
    result = CLASSIFICATION.train(params, ctx)
    assert result["test_f1"] == 0.0 and 0.0 < result["test_accuracy"] <= 1.0
    without = CLASSIFICATION.train(params, TrialContext(str(main), {"target": "Potability", "nthread": 1}))
    assert without["test_f1"] > 0.0  # the held-out share of the data itself has positives
    assert CLASSIFICATION.profile(ctx)["rows"] == 3276 - 676  # the profile describes the training data


def test_categories_are_shared_with_the_test_file(tmp_path):
    frame = pd.read_csv(DATA / "house_price" / "housing_price_dataset.csv").iloc[:3000]
    main, test = tmp_path / "houses.csv", tmp_path / "houses-test.csv"
    frame.iloc[:2500].to_csv(main, index=False)
    frame.iloc[2500:].query("Neighborhood == 'Urban'").to_csv(test, index=False)  # one category only
    ctx = TrialContext(str(main), {"target": "Price", "nthread": 1}, test_data=str(test))
    result = REGRESSION.train({"n_estimators": 20}, ctx)
    assert result["test_r2"] > 0.3


def test_the_contract_checks_the_test_file(tmp_path):
    main, test = water_files(tmp_path, test_rows=50)
    frame = pd.read_csv(test)
    frame.loc[3, "Potability"] = 7
    frame.to_csv(test, index=False)
    ctx = TrialContext(str(main), {"target": "Potability", "labels": [0, 1]}, test_data=str(test))
    data_report, test_report = CLASSIFICATION.check_data(ctx)
    assert data_report.passed and test_report.table == "water-test.csv" and test_report.rows == 50
    assert test_report.failures == ("expect_column_values_to_be_in_set(column='Potability', value_set=[0, 1]): "
                                    "1 unexpected value(s), e.g. [7] at data row(s) [4]",)


def test_a_text_table_with_a_test_file(tmp_path):
    lines = [f"{'pos' if i % 2 else 'neg'} review {i} was {'good' if i % 2 else 'bad'}" for i in range(100)]
    (tmp_path / "all.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "test.txt").write_text("pos held out and good\nneg held out and bad\n")
    ctx = TrialContext(str(tmp_path / "all.txt"), {"labels": ["neg", "pos"], "min_rows": 2},
                       test_data=str(tmp_path / "test.txt"))
    splits = load_splits(ctx)
    assert splits["test"].texts == ["held out and good", "held out and bad"]
    assert len(splits["train"].texts) + len(splits["validation"].texts) == 100 and len(splits["validation"].texts) == 10
    assert [r.table for r in TEXT_CLASSIFICATION.check_data(ctx)] == ["all.txt", "test.txt"]


def test_the_fingerprint_follows_the_test_file(tmp_path):
    main, test = water_files(tmp_path)
    spec = parse_spec({**yaml.safe_load((ROOT / "examples" / "water-potability.yaml").read_text()),
                       "data": str(main), "test_data": str(test)}, base_dir=None)
    before = data_fingerprint(spec)
    test.write_text(test.read_text() + test.read_text().splitlines()[-1] + "\n")
    assert data_fingerprint(spec) != before
