"""`sklambda package SOURCE` from MLflow, end to end: a real sqlite registry and local artifacts made here (offline),
packaged by alias, by version, by run and from a model directory, then served; named rows must get exactly the
logged model's answers on the same DataFrame."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from aws_lambda_powertools import Metrics
from fastapi.testclient import TestClient
from predict_service.api import create_app
from predict_service.config import Settings
from predict_service.manifest import ModelManifest, read_manifest
from predict_service.runtimes.sklearn import SklearnRuntime
from predict_service.telemetry import SERVICE
from sklearn.pipeline import Pipeline

from sklambda.artifact import PackagingError
from sklambda.dataframe import frame_rows
from sklambda.served import ServedApp
from sklambda.sources import package_mlflow_source
from tests.support.cli import run_cli
from tests.support.mlflow_registry import (
    ALIAS,
    MODEL_NAME,
    SKOPS_TRUSTED_TYPES,
    Registry,
    isolate_from_user_settings,
    registry_in,
    save_model_dir,
    signature,
)

FEATURE_NAMES = ["age", "income", "city"]
CITIES = ["lyon", "nice", "paris"]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with registry_in(tmp_path_factory.mktemp("mlflow")) as built:
        yield built


@pytest.fixture
def tracking(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> Registry:
    isolate_from_user_settings(monkeypatch, registry.tracking_uri)
    return registry


def package(source: str, model_dir: Path, **options: Any) -> ModelManifest:
    return package_mlflow_source(source, model_dir, **options)


def named_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The DataFrame's rows as a client sends them: objects keyed by column name, missing values as null."""
    return [dict(zip(FEATURE_NAMES, row, strict=True)) for row in frame_rows(frame, FEATURE_NAMES)]


@pytest.fixture(autouse=True)
def fresh_metric_dimensions() -> Iterator[None]:
    """Powertools keeps the default metric dimensions (the model version) in state shared by every Metrics object:
    one process serves one model on Lambda, while these tests serve several versions in turn."""
    yield
    shared = Metrics(namespace=SERVICE)
    shared.clear_default_dimensions()
    shared.clear_metrics()


def served_predictions(model_dir: Path, frame: pd.DataFrame) -> tuple[list[Any], dict[str, Any]]:
    """POST the frame's rows by name to the app serving model_dir in-process; the predictions and GET /model."""
    with TestClient(create_app(Settings(), SklearnRuntime.load(model_dir))) as client:
        response = client.post("/predict", json={"instances": named_rows(frame)})
        assert response.status_code == 200, response.text
        info = client.get("/model")
        assert info.status_code == 200, info.text
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
    # The documented /model response describes the lineage it serves.
    assert "lineage" in schemas["ModelInfoResponse"]["properties"]
    assert set(schemas["Lineage"]["properties"]) == set(info.json()["lineage"])
    return response.json()["predictions"], info.json()


def assert_serves_like(model_dir: Path, logged: Pipeline, frame: pd.DataFrame) -> dict[str, Any]:
    predictions, info = served_predictions(model_dir, frame)
    assert predictions == logged.predict(frame).tolist()
    return info


def assert_features_from_signature(manifest: ModelManifest) -> None:
    # The signature's order; income is optional there (the pipeline imputes it): nullable.
    assert [(feature.name, feature.type, feature.nullable) for feature in manifest.features] == [
        ("age", "number", False),
        ("income", "number", True),
        ("city", "category", False),
    ]
    assert manifest.features[2].categories == CITIES


def test_package_by_alias(tracking: Registry, tmp_path: Path) -> None:
    second = tracking.runs[1]
    model_dir = tmp_path / "model"
    manifest = package(f"models:/{MODEL_NAME}@{ALIAS}", model_dir)
    assert (manifest.name, manifest.version) == (MODEL_NAME, "2")
    assert_features_from_signature(manifest)
    complete = [row for row in frame_rows(tracking.example, FEATURE_NAMES) if None not in row]
    assert manifest.example == complete[0]
    # Saved with skops, served with skops: no pickle in the model directory, trusting only what MLflow trusted.
    assert manifest.format == "skops" and manifest.skops is not None
    assert set(manifest.skops.trusted_types) <= set(SKOPS_TRUSTED_TYPES)
    assert sorted(path.name for path in model_dir.iterdir()) == ["model.json", "model.skops"]
    assert manifest.lineage is not None
    assert manifest.lineage.model_dump() == {
        "source": f"models:/{MODEL_NAME}@{ALIAS}",
        "run_id": second.run_id,
        "model_id": second.model_id,
        "registry_name": MODEL_NAME,
        "registry_version": "2",
        "registry_alias": ALIAS,
        "metrics": {"accuracy": second.accuracy},
    }
    info = assert_serves_like(model_dir, second.model, tracking.frame)
    assert (info["name"], info["version"]) == (MODEL_NAME, "2")
    assert info["lineage"] == manifest.lineage.model_dump()
    assert [feature["name"] for feature in info["features"]] == FEATURE_NAMES
    assert info["features"][2]["categories"] == CITIES
    # Nothing in the public lineage locates the store or the artifacts.
    assert tracking.tracking_uri not in str(info) and str(tracking.root) not in str(info)


def test_package_by_version(tracking: Registry, tmp_path: Path) -> None:
    first = tracking.runs[0]
    model_dir = tmp_path / "model"
    manifest = package(f"models:/{MODEL_NAME}/1", model_dir)
    assert (manifest.name, manifest.version) == (MODEL_NAME, "1")
    assert manifest.lineage is not None
    assert (manifest.lineage.registry_version, manifest.lineage.registry_alias) == ("1", None)
    assert manifest.lineage.run_id == first.run_id
    assert_serves_like(model_dir, first.model, tracking.frame)


def test_name_and_version_options_win_over_the_registry(tracking: Registry, tmp_path: Path) -> None:
    manifest = package(f"models:/{MODEL_NAME}/1", tmp_path / "model", name="churn-eu", version="2026.11")
    assert (manifest.name, manifest.version) == ("churn-eu", "2026.11")
    assert manifest.lineage is not None
    assert (manifest.lineage.registry_name, manifest.lineage.registry_version) == (MODEL_NAME, "1")


def test_package_by_run(tracking: Registry, tmp_path: Path) -> None:
    first = tracking.runs[0]
    model_dir = tmp_path / "model"
    manifest = package(f"runs:/{first.run_id}/model", model_dir)
    assert manifest.name == "model"
    assert manifest.version == manifest.sha256[:12]
    assert manifest.lineage is not None
    assert manifest.lineage.run_id == first.run_id
    assert manifest.lineage.registry_name is None
    assert manifest.lineage.metrics == {"accuracy": first.accuracy}
    assert_serves_like(model_dir, first.model, tracking.frame)


@pytest.mark.parametrize(("serialization_format", "served_format"), [("cloudpickle", "joblib"), ("skops", "skops")])
def test_package_from_directory(
    registry: Registry, tmp_path: Path, serialization_format: str, served_format: str
) -> None:
    logged = registry.runs[0].model
    saved = tmp_path / "churn-model"
    save_model_dir(logged, saved, serialization_format, registry.example)
    model_dir = tmp_path / "model"
    manifest = package(str(saved), model_dir)
    assert manifest.format == served_format
    assert manifest.name == "churn-model"
    assert manifest.lineage is not None
    # A local directory is named, never located: GET /model is public.
    assert manifest.lineage.source == "churn-model"
    assert_features_from_signature(manifest)
    assert_serves_like(model_dir, logged, registry.frame)


def test_requirements_the_layer_does_not_meet_are_refused(registry: Registry, tmp_path: Path) -> None:
    import mlflow.sklearn

    saved = tmp_path / "saved"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(
            registry.runs[0].model,
            str(saved),
            serialization_format="pickle",
            signature=signature(),
            input_example=registry.example,
            pip_requirements=["scikit-learn==1.5.2", "xgboost==3.0.0", "pandas", "pytest"],
        )
    with pytest.raises(PackagingError) as raised:
        package(str(saved), tmp_path / "model")
    message = str(raised.value).removeprefix(f"{saved}: ")
    assert "\n" not in message
    assert "scikit-learn==1.5.2 (the layer installs scikit-learn==" in message
    assert "it requires xgboost==3.0.0, which the layer does not install" in message
    assert "pandas" not in message and "pytest" not in message
    assert not (tmp_path / "model").exists()


def test_cli_package_by_alias_then_serve(tracking: Registry, tmp_path: Path, serve: Callable[..., ServedApp]) -> None:
    model_dir = tmp_path / "model"
    source = f"models:/{MODEL_NAME}@{ALIAS}"
    packaged = run_cli("package", source, "--model-dir", str(model_dir))
    assert packaged.returncode == 0, packaged.stderr
    assert f"Wrote {model_dir} ({MODEL_NAME} 2:" in packaged.stderr
    assert read_manifest(model_dir).lineage is not None

    server = serve(model_dir)
    assert server.wait_ready().status_code == 200
    frame = tracking.frame.iloc[:50]
    response = httpx.post(f"{server.url}/predict", json={"instances": named_rows(frame)}, timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["predictions"] == tracking.runs[1].model.predict(frame).tolist()
    assert (body["model_name"], body["model_version"]) == (MODEL_NAME, "2")


def test_cli_unknown_alias_is_one_line(tracking: Registry, tmp_path: Path) -> None:
    result = run_cli("package", f"models:/{MODEL_NAME}@nope", "--model-dir", str(tmp_path / "model"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"sklambda package: error: registered model {MODEL_NAME!r} has no alias 'nope' (its aliases: {ALIAS})"
    )


def test_example_rows_hold_nulls(registry: Registry) -> None:
    """Otherwise the served predictions above would not show that a null reaches the model as the DataFrame's NaN."""
    assert any(value is None for row in frame_rows(registry.frame, FEATURE_NAMES) for value in row)
    assert np.isnan(registry.frame["income"]).any()


def test_package_array_fed_model_names_columns_from_its_signature(tmp_path: Path) -> None:
    """A model fitted on a plain array: the tensor signature gives its width, packaging its f0..fN-1 names."""
    import mlflow.sklearn
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    features, label = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(features, label)
    saved = tmp_path / "iris"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(
            model, str(saved), serialization_format="pickle", input_example=features[:2], pip_requirements=[]
        )
    model_dir = tmp_path / "model"
    manifest = package(str(saved), model_dir)
    names = [f"f{index}" for index in range(4)]
    assert manifest.feature_names == names
    assert manifest.example == features[0].tolist()
    assert manifest.format == "joblib"
    rows = [dict(zip(names, row, strict=True)) for row in features.tolist()]
    with TestClient(create_app(Settings(), SklearnRuntime.load(model_dir))) as client:
        response = client.post("/predict", json={"instances": rows})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == model.predict(features).tolist()


def test_package_text_model(tmp_path: Path) -> None:
    """A text pipeline logged with a one-column string signature: served as one text feature, not a category."""
    import mlflow.sklearn
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts = ["great product", "awful service", "really great", "bad and awful", "great value", "awful"]
    label = [1, 0, 1, 0, 1, 0]
    model = Pipeline([("vectorize", TfidfVectorizer()), ("classify", LogisticRegression())]).fit(texts, label)
    saved = tmp_path / "reviews"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(
            model,
            str(saved),
            serialization_format="pickle",
            input_example=pd.DataFrame({"review": texts[:2]}),
            pip_requirements=[],
        )
    model_dir = tmp_path / "model"
    manifest = package(str(saved), model_dir)
    assert [(feature.name, feature.type) for feature in manifest.features] == [("text", "text")]
    assert manifest.example == [texts[0]]
    with TestClient(create_app(Settings(), SklearnRuntime.load(model_dir))) as client:
        response = client.post("/predict", json={"instances": [[text] for text in texts]})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == model.predict(texts).tolist()
