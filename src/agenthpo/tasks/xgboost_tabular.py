"""XGBoost on a CSV table: classification (F1) and regression (R^2), the paper's tabular tasks.

The split into train / validation / test is fixed by `split_seed` (not the study seed), so every
trial and every proposer sees the same rows. The objective is measured on validation; test
metrics are recorded beside it for an honest view of generalisation.

Task options are declared below (`COMMON_OPTIONS`, and `labels` for classification), each with its rule,
default and help; `target`, the label column, is the one a spec must give.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from agenthpo.space import FloatParam, IntParam, Scalar, SearchSpace
from agenthpo.tasks.base import TaskPlugin, TrialContext
from agenthpo.tasks.contracts import EXPECTATIONS, ContractReport, expect, user_expectations, validate_frame
from agenthpo.tasks.data import Split, split_indices
from agenthpo.tasks.options import REQUIRED, SPLIT_SEED, Option, at_least, fraction, list_of, not_empty
from agenthpo.trial import Objective

# The paper's Table 2 parameters for XGBoost; the ranges are ours, chosen to cover the usual defaults.
COMMON_PARAMS = [
    IntParam("max_depth", 3, 10),
    FloatParam("learning_rate", 0.01, 0.3, log=True),
    IntParam("min_child_weight", 1, 10),
    FloatParam("subsample", 0.5, 1.0),
    FloatParam("colsample_bytree", 0.5, 1.0),
    IntParam("n_estimators", 50, 1000),
    FloatParam("gamma", 0.0, 5.0),
    FloatParam("reg_alpha", 0.0, 1.0),
    FloatParam("reg_lambda", 0.0, 1.0),
]
SCALE_POS_WEIGHT = FloatParam("scale_pos_weight", 1.0, 10.0)
# XGBoost's own defaults, for a hyperparameter a spec's space leaves out.
DEFAULTS = {"max_depth": 6, "learning_rate": 0.3, "min_child_weight": 1, "subsample": 1.0, "colsample_bytree": 1.0,
            "n_estimators": 100, "gamma": 0.0, "reg_alpha": 0.0, "reg_lambda": 1.0, "scale_pos_weight": 1.0}
_BOOSTER_KEYS = ("max_depth", "learning_rate", "min_child_weight", "subsample", "colsample_bytree", "gamma",
                 "reg_alpha", "reg_lambda", "scale_pos_weight")

TARGET = Option("target", str, REQUIRED, not_empty(), "the label column of the CSV")
DROP_COLUMNS = Option("drop_columns", list, [], list_of(str), "columns left out of the features (ids, leaks)")
VALIDATION_FRACTION = Option("validation_fraction", float, 0.2, fraction(), "share of the rows held out for validation")
TEST_FRACTION = Option("test_fraction", float, 0.2, fraction(), "share of the rows held out for test")
NTHREAD = Option("nthread", int, 0, at_least(0), "xgboost's CPU threads (0: xgboost's own choice)")
MIN_ROWS = Option("min_rows", int, 50, at_least(1), "the contract's smallest table")
LABELS = Option("labels", list, None, not_empty(), "the label values the target may hold (checked by the contract)")
COMMON_OPTIONS = (TARGET, DROP_COLUMNS, VALIDATION_FRACTION, TEST_FRACTION, SPLIT_SEED, NTHREAD, MIN_ROWS, EXPECTATIONS)


def f1_score(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Binary F1 of the positive class, or macro F1 over classes when there are more than two."""
    classes = np.unique(y_true)
    positive = [1] if set(classes.tolist()) <= {0, 1} else classes.tolist()
    scores = []
    for c in positive:
        tp = float(np.sum((y_pred == c) & (y_true == c)))
        fp = float(np.sum((y_pred == c) & (y_true != c)))
        fn = float(np.sum((y_pred != c) & (y_true == c)))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def r2_score(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    residual = float(np.sum((y_true - y_pred) ** 2))
    total = float(np.sum((y_true - np.mean(y_true)) ** 2))
    return 1.0 - residual / total if total > 0 else 0.0


# Multi-class curves under the binary names, so that a curve (and the pruner's) is named the same for both.
_SAME_NAME = {"mlogloss": "logloss", "merror": "error"}


class XGBoostTabularTask(TaskPlugin):
    takes_test_data = True
    warm_imports = ("pandas", "xgboost")

    def __init__(self, name: str, classification: bool):
        self.name = name
        self.classification = classification
        # The headline metric: the validation score, also returned under its plain name.
        self.headline = "f1" if classification else "r2"
        self.default_objective = Objective(self.headline, "maximize")
        self.default_space = SearchSpace(COMMON_PARAMS + ([SCALE_POS_WEIGHT] if classification else []))
        self.param_defaults = {p.name: DEFAULTS[p.name] for p in self.default_space}
        self.options = COMMON_OPTIONS + ((LABELS,) if classification else ())
        scores = ("f1", "accuracy") if classification else ("r2", "rmse")
        self.metrics = (self.headline, *(f"{part}_{score}" for part in ("validation", "test") for score in scores))
        # Followed by a pruner each boosting round: the validation loss (F1 and R2 come only at the end).
        self.pruning_curve = ("validation_logloss" if classification else "validation_rmse", "minimize")
        self.step_name = "boosting round"
        kind = "binary or multi-class classification" if classification else "regression"
        self.description = (f"XGBoost gradient-boosted trees ({kind}) on a tabular CSV; "
                            f"objective {self.headline} on the validation split.")

    def load(self, ctx: TrialContext, with_test: bool = False):
        """(features, labels, rows of `data`): with `with_test`, the rows of `test_data` follow the data's, read
        together so that a categorical column has one set of categories."""
        import pandas as pd

        if not ctx.data:
            raise ValueError(f"task {self.name!r} needs `data`: the path of a CSV file")
        target = ctx.option(TARGET)
        paths = [ctx.data] + ([ctx.test_data] if with_test and ctx.test_data else [])
        frames = [pd.read_csv(path) for path in paths]
        for path, part in zip(paths, frames, strict=True):
            if target not in part.columns:
                raise ValueError(f"task_options.target={target!r} is not a column of {path} "
                                 f"(columns: {list(part.columns)})")
        rows = len(frames[0])
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        frame = frame.drop(columns=ctx.option(DROP_COLUMNS))
        labels = frame.pop(target)
        if labels.isna().any():
            raise ValueError(f"{ctx.data}: {int(labels.isna().sum())} rows have no {target!r}")
        for column in frame.columns:
            if frame[column].dtype == object or str(frame[column].dtype) in ("str", "string"):
                frame[column] = frame[column].astype("category")
        return frame, labels.to_numpy(), rows

    def check_data(self, ctx: TrialContext) -> list[ContractReport]:
        """The table's contract: the target present and complete, enough rows, usable label values, and
        whatever the spec adds as `task_options.expectations` (great-expectations names, e.g.
        `{expect: column_values_to_be_between, column: ph, min_value: 0, max_value: 14}`)."""
        import pandas as pd

        if not ctx.data:
            raise ValueError(f"task {self.name!r} needs `data`: the path of a CSV file")
        target = ctx.option(TARGET)
        frame = pd.read_csv(ctx.data)
        expectations = [
            expect("column_to_exist", column=target),
            expect("column_values_to_not_be_null", column=target),
            expect("table_row_count_to_be_between", min_value=ctx.option(MIN_ROWS)),
        ]
        if self.classification:
            labels = ctx.option(LABELS)
            if labels is not None:
                expectations.append(expect("column_values_to_be_in_set", column=target, value_set=labels))
            # Class ids index xgboost's outputs: non-negative whole numbers.
            expectations.append(expect("column_values_to_be_between", column=target, min_value=0))
        else:
            expectations.append(expect("column_values_to_be_in_type_list", column=target,
                                       type_list=["float64", "float32", "int64", "int32"]))
        expectations += user_expectations(ctx.option(EXPECTATIONS))
        reports = [validate_frame(Path(ctx.data).name, frame, expectations, file_rows=True)]
        if ctx.test_data:  # the same expectations, but a test set may be smaller than min_rows
            test = [e for e in expectations if e.kind != "table_row_count_to_be_between"]
            reports.append(validate_frame(Path(ctx.test_data).name, pd.read_csv(ctx.test_data), test, file_rows=True))
        return reports

    def profile(self, ctx: TrialContext) -> dict[str, Any]:
        """The dataset as the Creator's background describes it (computed once per study)."""
        features, labels, _ = self.load(ctx)
        profile: dict[str, Any] = {
            "rows": int(len(features)), "features": int(features.shape[1]),
            "categorical_features": [c for c in features.columns if str(features[c].dtype) == "category"],
            "missing_values": {c: int(n) for c, n in features.isna().sum().items() if n},
        }
        if self.classification:
            values, counts = np.unique(labels, return_counts=True)
            profile["class_shares"] = {str(v): round(float(c) / len(labels), 3) for v, c in zip(values, counts,
                                                                                               strict=True)}
        else:
            profile["target"] = {k: round(float(f(labels)), 2) for k, f in
                                 (("mean", np.mean), ("std", np.std), ("min", np.min), ("max", np.max))}
        return profile

    def train(self, params: Mapping[str, Scalar], ctx: TrialContext) -> dict[str, float]:
        import xgboost as xgb

        features, labels, rows = self.load(ctx, with_test=True)
        # With a separate test set the data is split into train and validation only.
        split = split_indices(labels[:rows], ctx.option(VALIDATION_FRACTION),
                              0.0 if ctx.test_data else ctx.option(TEST_FRACTION), ctx.option(SPLIT_SEED),
                              stratify=self.classification)
        if ctx.test_data:
            split = Split(split.train, split.validation, np.arange(rows, len(labels)))
        booster_params: dict[str, Any] = {k: params[k] for k in _BOOSTER_KEYS if k in params}
        booster_params.update(seed=ctx.seed, tree_method="hist", nthread=ctx.option(NTHREAD) or None)
        booster_params = {k: v for k, v in booster_params.items() if v is not None}
        classes = np.unique(labels[split.train])
        if self.classification:
            if len(classes) > 2:
                booster_params.update(objective="multi:softprob", num_class=int(labels.max()) + 1,
                                      eval_metric=["mlogloss", "merror"])
                booster_params.pop("scale_pos_weight", None)
            else:
                booster_params.update(objective="binary:logistic", eval_metric=["logloss", "error"])
        else:
            booster_params.update(objective="reg:squarederror", eval_metric=["rmse"])

        def matrix(rows: np.ndarray) -> xgb.DMatrix:
            return xgb.DMatrix(features.iloc[rows], label=labels[rows], enable_categorical=True)

        dtrain, dval, dtest = matrix(split.train), matrix(split.validation), matrix(split.test)
        class Report(xgb.callback.TrainingCallback):
            """Each round's scores to ctx.report as it trains, so a pruner can stop it there (TrialPruned)."""

            def after_iteration(self, model, epoch: int, evals_log) -> bool:
                ctx.report(epoch + 1, **{f"{part}_{_SAME_NAME.get(metric, metric)}": float(values[-1])
                                         for part, metrics in evals_log.items() for metric, values in metrics.items()})
                return False

        ctx.last_step = int(params["n_estimators"])
        booster = xgb.train(booster_params, dtrain, num_boost_round=int(params["n_estimators"]),
                            evals=[(dtrain, "train"), (dval, "validation")], verbose_eval=False,
                            callbacks=[Report()])
        return self._evaluate(booster, {"validation": (dval, split.validation), "test": (dtest, split.test)},
                              labels)

    def _evaluate(self, booster, parts, labels: np.ndarray) -> dict[str, float]:
        results: dict[str, float] = {}
        for part, (matrix, rows) in parts.items():
            raw = booster.predict(matrix)
            truth = labels[rows]
            if self.classification:
                predicted = raw.argmax(axis=1) if raw.ndim == 2 else (raw >= 0.5).astype(truth.dtype)
                results[f"{part}_f1"] = f1_score(truth, predicted)
                results[f"{part}_accuracy"] = float(np.mean(predicted == truth))
            else:
                results[f"{part}_r2"] = r2_score(truth, raw)
                results[f"{part}_rmse"] = float(np.sqrt(np.mean((truth - raw) ** 2)))
        results[self.headline] = results[f"validation_{self.headline}"]
        return results


CLASSIFICATION = XGBoostTabularTask("xgboost-classification", classification=True)
REGRESSION = XGBoostTabularTask("xgboost-regression", classification=False)
