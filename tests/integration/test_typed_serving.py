"""Every feature type and task kind through the real app: the gallery corpus written as a schema 3 model directory
(the DataFrame model rewritten for plain rows, its feature types and task read from the fitted model), served by
the scikit-learn runtime, and answered exactly as the original model answers the same rows as a DataFrame."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from predict_service.api import create_app
from predict_service.config import Settings
from predict_service.manifest import (
    DataFrameRewrite,
    FeatureSpec,
    InputLayout,
    ModelManifest,
    file_sha256,
    write_manifest,
)
from predict_service.runtimes.sklearn import SklearnRuntime
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from sklambda.artifact import describe_estimator, library_versions
from sklambda.dataframe import frame_rows, rewrite_and_verify, rows_to_array
from sklambda.feature_types import FeatureType, detect_feature_types, row_missing_check, task_kind
from sklambda.training import DEMO_VERSION
from tests.corpus import TEXT_ENTRIES, CorpusEntry, build, entry_params

ROWS = 40


def strict_categories() -> CorpusEntry:
    """A OneHotEncoder left at handle_unknown="error": its categories are the only values it takes."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "size": rng.uniform(0, 10, 120),
            "color": rng.choice(["red", "green", "blue"], 120),
            "grade": rng.choice([1, 2, 3], 120),
        }
    )
    target = np.where(frame["size"] + (frame["color"] == "red") * 3 > 6, "big", "small")
    model = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["color", "grade"]), remainder="passthrough"), LogisticRegression()
    ).fit(frame, target)
    return CorpusEntry("strict_categories", model, frame, frame.iloc[:3])


LOCAL_ENTRIES = {"strict_categories": strict_categories}


def feature_spec(feature: FeatureType, entry: CorpusEntry) -> FeatureSpec:
    if feature.kind == "category":
        return FeatureSpec(
            name=feature.name,
            type="category",
            categories=list(feature.categories or []),
            accepts_unknown=feature.accepts_unknown or feature.categories is None,
            nullable=feature.nullable,
        )
    if feature.kind == "text":
        return FeatureSpec(name=feature.name, type="text")
    column = entry.X[feature.name]
    return FeatureSpec(name=feature.name, nullable=feature.nullable, range=(float(column.min()), float(column.max())))


def filled_example(row: list[Any], specs: list[FeatureSpec], entry: CorpusEntry) -> list[Any]:
    """The example row with a value from the training data where it is null and the feature is not nullable."""
    return [
        frame_rows(entry.X[[spec.name]].dropna().iloc[:1], [spec.name])[0][0]
        if value is None and not spec.nullable
        else value
        for value, spec in zip(row, specs, strict=True)
    ]


def write_typed_model_dir(entry: CorpusEntry, model_dir: Path) -> ModelManifest:
    """What packaging writes for the entry, written here from the same sklambda functions packaging uses."""
    record: DataFrameRewrite | None = None
    layout: InputLayout = "table"
    if entry.name in TEXT_ENTRIES:
        model, names, layout = entry.model, ["text"], "text"
        types = detect_feature_types(model)
        example: list[Any] = [entry.example[0]]
        example_input = np.asarray(example, dtype=object)
    else:
        rewritten = rewrite_and_verify(entry.model, entry.X, entry.example)
        model, names = rewritten.model, rewritten.feature_names
        record = DataFrameRewrite.model_validate(rewritten.record())
        row = frame_rows(entry.example, names)[0]
        check = row_missing_check(model, row, numeric_only=rewritten.numeric_only)
        types = detect_feature_types(model, names=names, frame=entry.X, nullable_check=check)
        example_input = rows_to_array([row], numeric_only=rewritten.numeric_only)
        example = row
    task = task_kind(model, example_input)
    specs = [feature_spec(feature, entry) for feature in types]
    example = filled_example(example, specs, entry)
    fitted_classes: Any = getattr(model, "classes_", None)
    classes: list[Any] | None = None
    outputs = None
    if task.startswith("multioutput_"):
        width = np.asarray(model.predict(example_input)).shape[1]
        outputs = [f"output_{index}" for index in range(width)]
    if task == "classification":
        classes = np.asarray(fitted_classes).tolist()
    elif task == "multioutput_classification":
        classes = [np.asarray(labels).tolist() for labels in fitted_classes]
    model_dir.mkdir(parents=True)
    joblib.dump(model, model_dir / "model.joblib")
    manifest = ModelManifest(
        name=entry.name,
        version=DEMO_VERSION,  # Powertools shares metric dimensions between apps in one process
        created_at="2026-01-01T00:00:00+00:00",
        sha256=file_sha256(model_dir / "model.joblib"),
        estimator=describe_estimator(model),
        task=task,
        features=specs,
        feature_names=names,
        n_features=len(names),
        classes=classes,
        outputs=outputs,
        input_layout=layout,
        has_predict_proba=task.endswith("classification") and hasattr(model, "predict_proba"),
        example=example,
        versions=library_versions(),
        dataframe=record,
    )
    write_manifest(model_dir, manifest)
    return manifest


def original_rows(entry: CorpusEntry) -> tuple[Any, list[Any]]:
    """Rows the original model is given (a DataFrame, or texts) and the same rows as JSON brings them."""
    if entry.name in TEXT_ENTRIES:
        texts = list(entry.X[:ROWS])
        return texts, [[text] for text in texts]
    frame = entry.X.iloc[:ROWS]
    return frame, frame_rows(frame, [str(column) for column in entry.model.feature_names_in_])


Served = Callable[[str], tuple[CorpusEntry, TestClient]]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The entry and a client of the app serving it, built the first time a test asks for the entry."""
    clients: dict[str, tuple[CorpusEntry, TestClient]] = {}

    def serve(name: str) -> tuple[CorpusEntry, TestClient]:
        if name not in clients:
            entry = LOCAL_ENTRIES[name]() if name in LOCAL_ENTRIES else build(name)
            model_dir = tmp_path_factory.mktemp(name) / "model"
            write_typed_model_dir(entry, model_dir)
            app = create_app(Settings(), SklearnRuntime.load(model_dir))
            clients[name] = (entry, TestClient(app, raise_server_exceptions=False))
        return clients[name]

    yield serve
    for _, client in clients.values():
        client.close()


def same(answered: list[Any], expected: list[Any]) -> bool:
    if expected and isinstance(np.asarray(expected).flat[0], float):
        return bool(np.allclose(np.asarray(answered, dtype=np.float64), np.asarray(expected), atol=1e-9, rtol=0))
    return answered == expected


@pytest.mark.parametrize("name", entry_params())
def test_batch_answers_like_the_original_on_a_dataframe(served: Served, name: str) -> None:
    entry, client = served(name)
    given, rows = original_rows(entry)
    response = client.post("/predict", json={"instances": rows})
    assert response.status_code == 200, response.text
    assert same(response.json()["predictions"], np.asarray(entry.model.predict(given)).tolist())


@pytest.mark.parametrize("name", entry_params())
def test_one_row_by_name_answers_like_the_original(served: Served, name: str) -> None:
    entry, client = served(name)
    given, rows = original_rows(entry)
    names = client.get("/model").json()["feature_names"]
    response = client.post("/predict", json={"features": dict(zip(names, rows[1], strict=True))})
    assert response.status_code == 200, response.text
    expected = np.asarray(entry.model.predict(given[1:2] if entry.name in TEXT_ENTRIES else given.iloc[1:2]))
    assert same(response.json()["prediction"], expected.tolist())


# The entries whose model has a working predict_proba.
PROBABILITY_ENTRIES = frozenset(
    {
        "mixed_types_by_name",
        "mixed_types_by_dtype",
        "mixed_types_grid_search",
        "voting_classifier",
        "hist_gradient_boosting_classifier_missing",
        "multioutput_classification",
        "calibrated_classifier",
    }
)


@pytest.mark.parametrize("name", entry_params(lambda name: name in PROBABILITY_ENTRIES))
def test_probabilities_match_the_original(served: Served, name: str) -> None:
    entry, client = served(name)
    manifest = client.get("/model").json()
    assert manifest["has_predict_proba"]
    given, rows = original_rows(entry)
    response = client.post("/predict", json={"instances": rows[:10], "return_probabilities": True})
    assert response.status_code == 200, response.text
    expected = entry.model.predict_proba(given.iloc[:10])
    answered = response.json()["probabilities"]
    if manifest["task"] == "multioutput_classification":
        assert len(answered[0]) == len(manifest["outputs"]) == len(expected)
        for output, matrix in enumerate(expected):
            keys = [str(label) for label in manifest["classes"][output]]
            got = [[row[output][key] for key in keys] for row in answered]
            assert np.allclose(got, matrix, atol=1e-9, rtol=0)
    else:
        keys = [str(label) for label in manifest["classes"]]
        assert np.allclose([[row[key] for key in keys] for row in answered], expected, atol=1e-9, rtol=0)


@pytest.mark.parametrize(
    ("name", "task", "shape"),
    [
        ("kmeans_clustering", "clustering", int),
        ("isolation_forest", "outlier_detection", int),
        ("multioutput_regression", "multioutput_regression", list),
        ("text_classification", "classification", str),
    ],
)
def test_model_names_the_task_and_answers_in_its_shape(served: Served, name: str, task: str, shape: type) -> None:
    _, client = served(name)
    manifest = client.get("/model").json()
    assert manifest["task"] == task
    answer = client.post("/predict", json={"instances": [manifest["example"]] * 2}).json()["predictions"]
    assert all(isinstance(value, shape) and not isinstance(value, bool) for value in answer)
    if task == "outlier_detection":
        assert set(answer) <= {1, -1}


def test_nulls_reach_the_model_as_missing_values(served: Served) -> None:
    entry, client = served("missing_values_imputation")
    manifest = client.get("/model").json()
    assert all(feature["nullable"] for feature in manifest["features"])
    frame = entry.X.iloc[:ROWS]
    rows = frame_rows(frame, manifest["feature_names"])
    assert any(value is None for row in rows for value in row), "the rows must include nulls"
    response = client.post("/predict", json={"instances": rows})
    assert same(response.json()["predictions"], np.asarray(entry.model.predict(frame)).tolist())


def test_null_for_a_required_feature_says_it_is_required(served: Served) -> None:
    _, client = served("transformed_target")
    manifest = client.get("/model").json()
    required = next(feature["name"] for feature in manifest["features"] if not feature["nullable"])
    row = dict(zip(manifest["feature_names"], manifest["example"], strict=True)) | {required: None}
    response = client.post("/predict", json={"features": row})
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "loc": ["features", required],
            "msg": f"{required} is required: this model does not accept a missing value (null) there",
            "type": "missing_value",
        }
    ]


def test_unknown_category_lists_the_allowed_values(served: Served) -> None:
    _, client = served("strict_categories")
    manifest = client.get("/model").json()
    color = manifest["features"][manifest["feature_names"].index("color")]
    assert (color["type"], sorted(color["categories"]), color["accepts_unknown"]) == (
        "category",
        ["blue", "green", "red"],
        False,
    )
    row = dict(zip(manifest["feature_names"], manifest["example"], strict=True))
    response = client.post("/predict", json={"features": row | {"color": "purple"}})
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "loc": ["features", "color"],
            "msg": f"color must be one of {json.dumps(color['categories'])}, got an unknown category",
            "type": "unknown_category",
        }
    ]


def test_categories_fitted_on_numbers_take_numbers(served: Served) -> None:
    entry, client = served("strict_categories")
    manifest = client.get("/model").json()
    grade = manifest["features"][manifest["feature_names"].index("grade")]
    assert sorted(grade["categories"]) == [1, 2, 3]
    row = dict(zip(manifest["feature_names"], manifest["example"], strict=True))
    for value, kind in (("2", "not_a_category"), (4, "unknown_category"), (True, "not_a_category")):
        response = client.post("/predict", json={"features": row | {"grade": value}})
        assert response.status_code == 422 and response.json()["detail"][0]["type"] == kind, value
    response = client.post("/predict", json={"features": row | {"grade": 2}})
    frame = entry.X.iloc[:1].assign(**{name: [value] for name, value in (row | {"grade": 2}).items()})
    assert response.json()["prediction"] == entry.model.predict(frame).tolist()


def test_model_and_openapi_describe_each_feature_type(served: Served) -> None:
    _, client = served("mixed_types_by_name")
    manifest = client.get("/model").json()
    kinds = {feature["type"] for feature in manifest["features"]}
    assert kinds == {"number", "category"}
    schema = client.get("/openapi.json").json()["paths"]["/predict"]["post"]["requestBody"]["content"]
    single = schema["application/json"]["schema"]["anyOf"][0]["properties"]["features"]["anyOf"][1]["properties"]
    for feature in manifest["features"]:
        value = single[feature["name"]]
        inner = value["anyOf"][0] if feature["nullable"] else value
        if feature["nullable"]:
            assert value["anyOf"][1] == {"type": "null"}
        if feature["type"] == "category" and not feature["accepts_unknown"]:
            assert inner == {"enum": feature["categories"]}
        elif feature["type"] == "number":
            assert inner == {"type": "number"}


def test_text_model_takes_one_string_per_row(served: Served) -> None:
    entry, client = served("text_classification")
    manifest = client.get("/model").json()
    assert manifest["input_layout"] == "text"
    assert manifest["features"] == [
        {"name": "text", "type": "text", "categories": None, "accepts_unknown": False, "nullable": False, "range": None}
    ]
    response = client.post("/predict", json={"features": [5]})
    assert response.status_code == 422 and response.json()["detail"][0]["type"] == "not_a_string"
