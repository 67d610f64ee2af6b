"""`sklambda train`: the built-in iris demo model, or a preprocessing pipeline trained from the user's CSV."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from predict_service.manifest import FeatureSpec, ModelManifest
from predict_service.runtimes import DEFAULT_RUNTIME
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, r2_score, root_mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from .artifact import ModelFormat, PackagingError, Runtime, check_replaceable, write_model_dir

SEED = 0
DEMO_NAME = "iris-demo"
DEMO_VERSION = "1.0.0"
IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
# A target with at most this many distinct integer values is treated as class labels under --task auto.
MAX_AUTO_CLASSES = 20


def classification_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "f1_macro": round(float(f1_score(y_true, y_pred, average="macro")), 4),
    }


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    return {
        "r2": round(float(r2_score(y_true, y_pred)), 4),
        "mae": round(float(mean_absolute_error(y_true, y_pred)), 4),
        "rmse": round(float(root_mean_squared_error(y_true, y_pred)), 4),
    }


def train_demo(
    model_dir: Path, runtime: Runtime = DEFAULT_RUNTIME, model_format: ModelFormat = "joblib", force: bool = False
) -> ModelManifest:
    iris = load_iris()
    x_train, x_test, y_train, y_test = train_test_split(
        iris.data, iris.target, test_size=0.2, random_state=SEED, stratify=iris.target
    )
    model = Pipeline([("scale", StandardScaler()), ("classify", LogisticRegression(max_iter=1000))])
    model.fit(x_train, y_train)
    return write_model_dir(
        model,
        model_dir,
        name=DEMO_NAME,
        version=DEMO_VERSION,
        features=[FeatureSpec(name=name) for name in IRIS_FEATURES],
        example=[float(value) for value in x_test[0]],
        class_names=[str(name) for name in iris.target_names],
        metrics=classification_metrics(y_test, model.predict(x_test)),
        runtime=runtime,
        model_format=model_format,
        force=force,
    )


@dataclass
class CsvTable:
    features: list[FeatureSpec]
    rows: np.ndarray  # object array: floats for numeric columns, strings for categorical ones
    target: list[str]


def _as_float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def read_csv_table(path: Path, target: str) -> CsvTable:
    with path.open(newline="", encoding="utf-8-sig") as stream:
        reader = csv.reader(stream)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            raise PackagingError(f"{path} is empty") from None
        records = [row for row in reader if any(cell.strip() for cell in row)]
    if target not in header:
        raise PackagingError(f"Target column {target!r} is not in {path}; its columns are {header}")
    if len(set(header)) != len(header) or "" in header:
        raise PackagingError(f"{path} has empty or duplicate column names: {header}")
    if len(records) < 10:
        raise PackagingError(f"{path} has {len(records)} data rows; at least 10 are needed to train and evaluate")
    for line, record in enumerate(records, start=2):
        if len(record) != len(header):
            raise PackagingError(f"{path} line {line}: {len(record)} cells, the header has {len(header)}")
        for name, cell in zip(header, record, strict=True):
            if not cell.strip():
                raise PackagingError(f"{path} line {line}: column {name!r} is empty; fill or drop missing values")
    target_index = header.index(target)
    feature_names = [name for name in header if name != target]
    columns = {name: [record[header.index(name)].strip() for record in records] for name in feature_names}
    features: list[FeatureSpec] = []
    for name in feature_names:
        if all(_as_float(cell) is not None for cell in columns[name]):
            features.append(FeatureSpec(name=name))
        else:
            features.append(FeatureSpec(name=name, type="category", categories=sorted(set(columns[name]))))
    rows = np.empty((len(records), len(features)), dtype=object)
    for column, feature in enumerate(features):
        cells = columns[feature.name]
        rows[:, column] = [float(cell) for cell in cells] if feature.type == "number" else cells
    return CsvTable(features, rows, [record[target_index].strip() for record in records])


def infer_task(target: list[str]) -> str:
    numbers = [_as_float(value) for value in target]
    if any(number is None for number in numbers):
        return "classification"
    integral = all(number is not None and number.is_integer() for number in numbers)
    return "classification" if integral and len(set(target)) <= MAX_AUTO_CLASSES else "regression"


def train_csv(
    csv_path: Path,
    target: str,
    model_dir: Path,
    *,
    task: str,
    name: str | None,
    version: str | None,
    runtime: Runtime = DEFAULT_RUNTIME,
    model_format: ModelFormat = "joblib",
    force: bool = False,
) -> ModelManifest:
    name = name or csv_path.stem
    if not force:
        # before reading and fitting: refusing afterwards would waste the training
        check_replaceable(model_dir, name)
    table = read_csv_table(csv_path, target)
    task = infer_task(table.target) if task == "auto" else task
    if task == "classification":
        numbers = [_as_float(value) for value in table.target]
        labels: np.ndarray = (
            np.array([int(n) for n in numbers if n is not None])
            if all(n is not None and n.is_integer() for n in numbers)
            else np.array(table.target)
        )
        estimator: Any = LogisticRegression(max_iter=2000)
    else:
        values = [_as_float(value) for value in table.target]
        if any(value is None for value in values):
            raise PackagingError(f"Target {target!r} has non-numeric values; a regression target must be numbers")
        labels = np.array(values, dtype=np.float64)
        estimator = Ridge()
    numeric = [i for i, feature in enumerate(table.features) if feature.type == "number"]
    categorical = [i for i, feature in enumerate(table.features) if feature.type == "category"]

    def build_pipeline() -> Pipeline:
        # Columns are selected by position, so the pipeline takes plain arrays: no pandas needed on Lambda.
        # The API refuses unknown categories itself (422), so the encoder never has to.
        preprocess = ColumnTransformer(
            [
                ("numeric", StandardScaler(), numeric),
                ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
            ]
        )
        return Pipeline([("preprocess", preprocess), ("model", clone(estimator))])

    stratify = labels if task == "classification" and min(np.unique(labels, return_counts=True)[1]) >= 2 else None
    x_train, x_test, y_train, y_test = train_test_split(
        table.rows, labels, test_size=0.2, random_state=SEED, stratify=stratify
    )
    # Metrics come from a model that never saw the hold-out rows; the served model is then fitted on all rows.
    predicted = build_pipeline().fit(x_train, y_train).predict(x_test)
    metrics = (
        classification_metrics(y_test, predicted) if task == "classification" else regression_metrics(y_test, predicted)
    )
    model = build_pipeline().fit(table.rows, labels)
    return write_model_dir(
        model,
        model_dir,
        name=name,
        version=version,
        features=table.features,
        example=list(table.rows[0]),
        metrics={**metrics, "holdout_rows": float(len(y_test))},
        runtime=runtime,
        model_format=model_format,
        force=force,
    )
