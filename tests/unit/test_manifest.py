"""model.json: feature_names and n_features are written explicitly and must agree with `features`; manifests written
before they existed (schema 1) still load; every refusal is one readable line."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import pytest
from fastapi.testclient import TestClient
from predict_service.errors import ModelLoadError
from predict_service.manifest import MANIFEST_FILENAME, MANIFEST_SCHEMA_VERSION, MODEL_FILENAME, read_manifest
from predict_service.runtimes.sklearn import SklearnRuntime

from tests.support.data import IRIS_FEATURES, iris_rows


@pytest.fixture
def model_copy(demo_model_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(demo_model_dir, target)
    return target


def raw_manifest(model_dir: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((model_dir / MANIFEST_FILENAME).read_text())
    return manifest


def edit_manifest(model_dir: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    manifest = raw_manifest(model_dir)
    edit(manifest)
    (model_dir / MANIFEST_FILENAME).write_text(json.dumps(manifest))


def refusal(model_dir: Path) -> str:
    with pytest.raises(ModelLoadError) as raised:
        read_manifest(model_dir)
    message = raised.value.message
    assert "\n" not in message and "input_value" not in message, "one line, without pydantic's echo of the input"
    assert message.startswith(f"{model_dir / MANIFEST_FILENAME} is not a valid sklambda manifest (")
    return message


def test_written_manifest_states_feature_names_and_count(demo_model_dir: Path) -> None:
    written = raw_manifest(demo_model_dir)
    assert written["schema_version"] == MANIFEST_SCHEMA_VERSION == 3
    assert written["feature_names"] == IRIS_FEATURES
    assert written["n_features"] == 4
    assert [feature["name"] for feature in written["features"]] == written["feature_names"]
    assert written["format"] == "joblib" and written["skops"] is None


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (
            lambda m: m.update(feature_names=list(reversed(m["feature_names"]))),
            "feature_names ['petal_width', 'petal_length', 'sepal_width', 'sepal_length'] do not match the names "
            "in features ['sepal_length', 'sepal_width', 'petal_length', 'petal_width']",
        ),
        (
            lambda m: m.update(feature_names=m["feature_names"][:3]),
            "do not match the names in features",
        ),
        (lambda m: m.update(n_features=5), "n_features is 5 but features lists 4"),
        (lambda m: m.pop("feature_names"), "feature_names: Field required"),
        (lambda m: m.pop("n_features"), "n_features: Field required"),
        (lambda m: m.update(schema_version=4), "schema_version 4 is not one this sklambda reads (1 to 3)"),
    ],
    ids=["reordered", "truncated", "wrong-count", "names-dropped", "count-dropped", "newer-schema"],
)
def test_inconsistent_manifest_is_refused_clearly(
    model_copy: Path, edit: Callable[[dict[str, Any]], None], says: str
) -> None:
    edit_manifest(model_copy, edit)
    assert says in refusal(model_copy)


def test_manifest_from_before_the_explicit_fields_still_loads_and_serves(model_copy: Path) -> None:
    def as_schema_1(manifest: dict[str, Any]) -> None:
        # Exactly the keys a schema 1 writer produced (it had no format either).
        manifest["schema_version"] = 1
        for key in ("feature_names", "n_features", "format", "skops"):
            del manifest[key]

    edit_manifest(model_copy, as_schema_1)
    manifest = read_manifest(model_copy)
    assert manifest.feature_names == IRIS_FEATURES
    assert manifest.n_features == 4
    assert manifest.format == "joblib"
    runtime = SklearnRuntime.load(model_copy)
    rows = iris_rows(100, seed=2)
    expected = joblib.load(model_copy / MODEL_FILENAME).predict(rows).tolist()
    assert runtime.predict(runtime.rows.to_array(rows.tolist(), "instances"), False).labels == expected


def test_schema_1_manifest_with_the_fields_is_still_checked(model_copy: Path) -> None:
    edit_manifest(model_copy, lambda m: m.update(schema_version=1, n_features=3))
    assert "n_features is 3 but features lists 4" in refusal(model_copy)


def test_get_model_serves_names_and_count_once_each(
    make_client: Callable[..., TestClient], demo_model_dir: Path
) -> None:
    body = make_client(SklearnRuntime.load(demo_model_dir)).get("/model").json()
    assert body["feature_names"] == IRIS_FEATURES
    assert body["n_features"] == 4
    assert [feature["name"] for feature in body["features"]] == IRIS_FEATURES
    assert body["format"] == "joblib"
    assert "path" not in json.dumps(body).lower()
