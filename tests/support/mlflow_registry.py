"""A real MLflow tracking store and model registry for tests: sqlite, local artifacts, offline.

`build_registry` logs a DataFrame pipeline (numeric and categorical columns selected by name) with a signature and
an input example in two runs, registers them as versions 1 and 2 of MODEL_NAME and points ALIAS at version 2.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

NUMERIC = ["age", "income"]
CATEGORICAL = ["city"]
MODEL_NAME = "churn"
ALIAS = "champion"
# What the model is logged with: an explicit list spares MLflow's requirement inference (a subprocess that loads
# the model again, ~30 s); MLflow writes it to requirements.txt the same way.
PIP_REQUIREMENTS = [f"scikit-learn=={sklearn.__version__}", "pandas", "skops<1"]
# MLflow's HTTP client settings, cleared so each test sees only what it sets.
# SimpleImputer keeps the dtype it was fitted on: skops loads that only when told to trust numpy.dtype, and MLflow
# refuses to save the pipeline as skops (its default) unless given this list, which it records in MLmodel.
SKOPS_TRUSTED_TYPES = ["numpy.dtype"]
HTTP_VARIABLES = [
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
]


def training_frame(rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, rows).astype("int64"),
            "income": rng.normal(50.0, 12.0, rows),
            "city": rng.choice(["lyon", "nice", "paris"], rows),
        }
    )
    frame.loc[frame.index[::7], "income"] = np.nan
    label = ((frame["income"].fillna(50.0) > 50.0) ^ (frame["city"] == "nice")).to_numpy().astype(np.int64)
    return frame, label


def fit_pipeline(frame: pd.DataFrame, label: np.ndarray[Any, Any], regularization: float) -> Pipeline:
    preprocess = ColumnTransformer(
        [
            ("numeric", Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())]), NUMERIC),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
        ]
    )
    return Pipeline([("preprocess", preprocess), ("classify", LogisticRegression(C=regularization))]).fit(frame, label)


def signature() -> Any:
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec

    # income may be missing (the pipeline imputes it): an optional column.
    inputs = Schema([ColSpec("long", "age"), ColSpec("double", "income", required=False), ColSpec("string", "city")])
    outputs = Schema([TensorSpec(np.dtype(np.int64), (-1,))])
    return ModelSignature(inputs=inputs, outputs=outputs)


@dataclass(frozen=True)
class LoggedRun:
    run_id: str
    model_id: str
    model: Pipeline
    accuracy: float


@dataclass(frozen=True)
class Registry:
    root: Path
    tracking_uri: str
    frame: pd.DataFrame
    example: pd.DataFrame
    runs: list[LoggedRun]


def isolate_from_user_settings(env: pytest.MonkeyPatch, tracking_uri: str) -> None:
    """Point MLflow at the test's store, and clear the user's MLflow settings the tests must not see."""
    env.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    env.delenv("MLFLOW_REGISTRY_URI", raising=False)
    env.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    env.setenv("DO_NOT_TRACK", "true")
    for name in HTTP_VARIABLES:
        env.delenv(name, raising=False)


@contextmanager
def registry_in(root: Path) -> Iterator[Registry]:
    """Two runs, each logging the pipeline (fitted with different regularization), registered as versions 1 and 2
    of MODEL_NAME; ALIAS points at version 2. The environment points at the store while the context is open."""
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient

    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as env:
        isolate_from_user_settings(env, tracking_uri)
        frame, label = training_frame(120, seed=3)
        example = frame.iloc[[0, 7, 2]].reset_index(drop=True)  # row 7 has no income
        runs = []
        with warnings.catch_warnings():
            # MLflow's own deprecation and schema hints, not what is tested here.
            warnings.simplefilter("ignore")
            experiment_id = mlflow.create_experiment("sklambda", artifact_location=(root / "artifacts").as_uri())
            for regularization in (1.0, 0.01):
                model = fit_pipeline(frame, label, regularization)
                accuracy = float((model.predict(frame) == label).mean())
                with mlflow.start_run(experiment_id=experiment_id) as run:
                    mlflow.log_metric("accuracy", accuracy)
                    info = mlflow.sklearn.log_model(
                        model,
                        name="model",
                        signature=signature(),
                        input_example=example,
                        pip_requirements=PIP_REQUIREMENTS,
                        skops_trusted_types=SKOPS_TRUSTED_TYPES,
                        registered_model_name=MODEL_NAME,
                    )
                runs.append(LoggedRun(run.info.run_id, info.model_id, model, accuracy))
            MlflowClient().set_registered_model_alias(MODEL_NAME, ALIAS, "2")
        yield Registry(root, tracking_uri, frame, example, runs)


def save_model_dir(model: Any, path: Path, serialization_format: str, example: Any) -> None:
    """`mlflow.sklearn.save_model` as a user writes a model directory: the churn signature, the given input example,
    pinned requirements (no inference: it starts a subprocess per model), in one of MLflow's serializations."""
    import mlflow.sklearn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(
            model,
            str(path),
            serialization_format=serialization_format,
            skops_trusted_types=SKOPS_TRUSTED_TYPES if serialization_format == "skops" else None,
            signature=signature(),
            input_example=example,
            pip_requirements=PIP_REQUIREMENTS,
        )
