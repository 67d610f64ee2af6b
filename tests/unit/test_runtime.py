"""The model runtime: verification before unpickling, warm-up, feature order, predictions equal model.predict."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import joblib
import numpy as np
import pytest
import sklearn
from predict_service.errors import InvalidInputError, ModelLoadError
from predict_service.inputs import RowConverter
from predict_service.manifest import MANIFEST_FILENAME, MODEL_FILENAME
from predict_service.predictions import PredictionRuntime
from predict_service.runtimes.sklearn import SklearnRuntime

from tests.support.data import IRIS_FEATURES, iris_rows, model_input


@pytest.fixture
def model_copy(demo_model_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(demo_model_dir, target)
    return target


def edit_manifest(model_dir: Path, **changes: object) -> None:
    path = model_dir / MANIFEST_FILENAME
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest))


def test_load_demo_model_exposes_manifest(demo_runtime: PredictionRuntime) -> None:
    manifest = demo_runtime.manifest
    assert manifest.name == "iris-demo"
    assert manifest.feature_names == IRIS_FEATURES
    assert manifest.classes == [0, 1, 2]
    assert manifest.class_names == ["setosa", "versicolor", "virginica"]
    assert manifest.versions.scikit_learn == sklearn.__version__
    assert manifest.has_predict_proba
    assert manifest.metrics["accuracy"] > 0.9


def test_load_refuses_tampered_model_before_unpickling(model_copy: Path) -> None:
    # A pickle that would run code if it were ever loaded: the hash check must stop it first.
    marker = model_copy / "pwned"
    payload = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()
    (model_copy / MODEL_FILENAME).write_bytes(payload)
    with pytest.raises(ModelLoadError, match="sha256 .* does not match the manifest"):
        SklearnRuntime.load(model_copy)
    assert not marker.exists()


def test_load_refuses_other_scikit_learn_version_naming_both(model_copy: Path) -> None:
    edit_manifest(
        model_copy, versions={"python": "3.11.7", "scikit-learn": "1.5.2", "numpy": "2.0.0", "joblib": "1.4.2"}
    )
    with pytest.raises(ModelLoadError) as raised:
        SklearnRuntime.load(model_copy)
    assert "1.5.2" in raised.value.message
    assert sklearn.__version__ in raised.value.message


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: shutil.rmtree(d), "does not exist"),
        (lambda d: (d / MANIFEST_FILENAME).unlink(), "No model.json"),
        (lambda d: (d / MANIFEST_FILENAME).write_text("{not json"), "not a valid sklambda manifest"),
        (lambda d: (d / MODEL_FILENAME).unlink(), "No model.joblib"),
    ],
    ids=["missing-dir", "missing-manifest", "corrupt-manifest", "missing-model"],
)
def test_load_reports_broken_model_directory(model_copy: Path, damage: object, message: str) -> None:
    damage(model_copy)  # type: ignore[operator]
    with pytest.raises(ModelLoadError, match=message):
        SklearnRuntime.load(model_copy)


def test_predictions_equal_model_predict_on_many_rows(demo_runtime: PredictionRuntime, demo_model_dir: Path) -> None:
    reference = joblib.load(demo_model_dir / MODEL_FILENAME)
    rows = iris_rows(2000, seed=1)
    result = demo_runtime.predict(model_input(demo_runtime, rows.tolist()), True)
    assert result.labels == reference.predict(rows).tolist()
    assert result.probabilities is not None
    expected = reference.predict_proba(rows)
    for got, want in zip(result.probabilities, expected, strict=True):
        assert list(got) == ["0", "1", "2"]
        assert list(got.values()) == pytest.approx(want.tolist(), abs=1e-12)


def test_named_rows_are_reordered_to_feature_order(demo_runtime: PredictionRuntime) -> None:
    row = [6.3, 2.5, 4.9, 1.5]
    shuffled = {"petal_width": 1.5, "sepal_length": 6.3, "petal_length": 4.9, "sepal_width": 2.5}
    named = RowConverter(demo_runtime.manifest.features).to_array([shuffled], "features")
    assert named.tolist() == [row]
    assert np.array_equal(named, RowConverter(demo_runtime.manifest.features).to_array([row], "features"))


@pytest.mark.parametrize(
    ("row", "kind"),
    [
        ([1.0, 2.0, 3.0], "feature_count"),
        ([1.0, 2.0, 3.0, "4.0"], "not_a_number"),
        ([1.0, 2.0, 3.0, True], "not_a_number"),
        ([1.0, 2.0, 3.0, None], "missing_value"),
        ([1.0, 2.0, 3.0, float("nan")], "not_finite"),
        ([1.0, 2.0, 3.0, float("inf")], "not_finite"),
        ([1.0, 2.0, 3.0, 10**400], "not_finite"),
        ({"sepal_length": 1.0, "sepal_width": 2.0, "petal_length": 3.0}, "missing_feature"),
        ({"sepal_length": 1, "sepal_width": 2, "petal_length": 3, "petal_width": 4, "x": 5}, "unknown_feature"),
        ("1,2,3,4", "row_type"),
    ],
)
def test_invalid_rows_are_refused_not_coerced(demo_runtime: PredictionRuntime, row: object, kind: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        RowConverter(demo_runtime.manifest.features).to_array([row], "features")
    assert raised.value.detail[0]["type"] == kind
    assert raised.value.detail[0]["loc"][0] == "features"


def test_batch_errors_name_the_row(demo_runtime: PredictionRuntime) -> None:
    with pytest.raises(InvalidInputError, match=r"instances\.1\.2") as raised:
        model_input(demo_runtime, [[1, 2, 3, 4], [1, 2, "x", 4]])
    assert raised.value.detail == [
        {"loc": ["instances", 1, 2], "msg": "petal_length must be a number, got string", "type": "not_a_number"}
    ]
