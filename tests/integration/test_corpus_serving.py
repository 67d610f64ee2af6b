"""The gallery corpus end to end: each pipeline as a user hands it over (its model.joblib, its training data as a
CSV), packaged by `sklambda package`, served, and asked for single rows, batches, rows by name, probabilities and rows
with nulls; every answer must be the original model's on the same rows given to it as a DataFrame.

The service is the app in-process for every entry (the same app `sklambda serve` runs), and a real `sklambda serve`
subprocess for entries packaged through the command line."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import joblib
import numpy as np
import pytest
from fastapi.testclient import TestClient
from predict_service.api import create_app
from predict_service.config import Settings
from predict_service.manifest import ModelManifest, read_manifest
from predict_service.runtimes.sklearn import SklearnRuntime

from sklambda.dataframe import frame_rows
from sklambda.packaging import package_model
from sklambda.requirements import scan_pickle
from sklambda.served import ServedApp
from sklambda.training import DEMO_VERSION
from tests.corpus import TEXT_ENTRIES, CorpusEntry, build, entry_params
from tests.support.cli import run_cli

ROWS_PER_BATCH = 40
TOLERANCE = 1e-9


def input_rows(entry: CorpusEntry, manifest: ModelManifest) -> tuple[Any, list[list[Any]]]:
    """Rows to ask for, as the original model takes them (a DataFrame, or a list of texts) and as JSON brings them:
    the end of the training data, where packaging did not verify the rewrite (it sees the head), then, for each
    nullable feature, the first of those rows with that feature missing."""
    if entry.name in TEXT_ENTRIES:
        texts = list(entry.X[-ROWS_PER_BATCH:])
        return texts, [[text] for text in texts]
    import pandas as pd

    frame = entry.X.iloc[-ROWS_PER_BATCH:]
    with_nulls = [frame]
    for feature in manifest.features:
        if feature.nullable:
            probe = frame.iloc[[0]].copy()
            probe[feature.name] = np.nan
            with_nulls.append(probe)
    frame = pd.concat(with_nulls, ignore_index=True)
    return frame, frame_rows(frame, manifest.feature_names)


def as_plain(value: Any) -> Any:
    """numpy scalars and arrays as the Python values JSON carries."""
    return np.asarray(value).tolist() if isinstance(value, np.ndarray) else getattr(value, "item", lambda: value)()


def expected_probabilities(model: Any, original_input: Any) -> list[Any]:
    """predict_proba as the API answers it: per row {label: probability}, one such object per output for a
    multi-output classifier."""
    probabilities = model.predict_proba(original_input)
    classes = model.classes_
    if isinstance(probabilities, list):  # one matrix per output
        return [
            [
                {str(as_plain(label)): float(p) for label, p in zip(output_classes, matrix[row], strict=True)}
                for output_classes, matrix in zip(classes, probabilities, strict=True)
            ]
            for row in range(len(probabilities[0]))
        ]
    return [{str(as_plain(label)): float(p) for label, p in zip(classes, row, strict=True)} for row in probabilities]


def assert_same(answered: Any, expected: Any) -> None:
    """Labels identical (value and JSON type), numbers within TOLERANCE, nested lists and objects alike."""
    if isinstance(expected, dict):
        assert isinstance(answered, dict) and answered.keys() == expected.keys(), (answered, expected)
        for key in expected:
            assert_same(answered[key], expected[key])
    elif isinstance(expected, list):
        assert isinstance(answered, list) and len(answered) == len(expected), (answered, expected)
        for left, right in zip(answered, expected, strict=True):
            assert_same(left, right)
    elif isinstance(expected, float) and not isinstance(answered, bool) and isinstance(answered, (int, float)):
        assert math.isclose(answered, expected, rel_tol=0.0, abs_tol=TOLERANCE), (answered, expected)
    else:
        assert type(answered) is type(expected) and answered == expected, (answered, expected)


def package_entry(entry: CorpusEntry, folder: Path) -> Path:
    """The user's side: model.joblib and the training data as a CSV, packaged with package_model."""
    model_file = folder / f"{entry.name}.joblib"
    joblib.dump(entry.model, model_file)
    data = None
    if entry.name not in TEXT_ENTRIES:
        data = folder / f"{entry.name}.csv"
        entry.X.to_csv(data, index=False)
    model_dir = folder / "model"
    package_model(
        model_file,
        model_dir,
        feature_names=None,
        name=entry.name,
        # the demo's version, as every app in the test process has: they share Powertools' metric dimensions
        version=DEMO_VERSION,
        example=None,
        class_names=None,
        training_data=data,
    )
    return model_dir


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Path]]:
    """The model directory of an entry, packaged once per module."""
    done: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in done:
            done[name] = package_entry(build(name), tmp_path_factory.mktemp(name))
        return done[name]

    yield get


class Asker:
    """POSTs to /predict through the in-process TestClient or an httpx.Client on a served app."""

    def __init__(self, client: TestClient | httpx.Client) -> None:
        self.client = client

    def __call__(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post("/predict", json=body)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer


def check_answers(ask: Asker, entry: CorpusEntry, manifest: ModelManifest) -> None:
    original_input, rows = input_rows(entry, manifest)
    model = entry.model
    expected = as_plain(model.predict(original_input))

    batch = ask({"instances": rows})
    assert_same(batch["predictions"], expected)

    single = ask({"features": rows[0]})
    assert_same(single["prediction"], expected[:1])

    by_name = ask({"instances": [dict(zip(manifest.feature_names, row, strict=True)) for row in rows[:5]]})
    assert_same(by_name["predictions"], expected[:5])

    if manifest.has_predict_proba:
        with_probabilities = ask({"instances": rows, "return_probabilities": True})
        assert_same(with_probabilities["probabilities"], expected_probabilities(model, original_input))


@pytest.mark.parametrize("name", entry_params())
def test_packaged_pipeline_answers_like_the_original(name: str, packaged: Callable[[str], Path]) -> None:
    entry = build(name)
    model_dir = packaged(name)
    manifest = read_manifest(model_dir)
    # What the pickle references, not its bytes: fitted arrays may hold any bytes (uninitialised padding included).
    assert "pandas" not in scan_pickle(model_dir / "model.joblib").top_level_modules
    if name not in TEXT_ENTRIES:
        assert manifest.dataframe is not None and manifest.dataframe.rewritten_from_dataframe
        for feature in manifest.features:
            if feature.type == "number":  # the range of the training data given with --data
                values = entry.X[feature.name].dropna()
                assert feature.range == (float(values.min()), float(values.max())), feature.name
        if any(feature.nullable for feature in manifest.features):
            _, rows = input_rows(entry, manifest)
            assert any(value is None for row in rows for value in row), "the rows must include nulls"
    with TestClient(create_app(Settings(), SklearnRuntime.load(model_dir))) as client:
        check_answers(Asker(client), entry, manifest)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        (
            "mixed_types_by_name",
            [
                "--example",
                '{"pclass": 3, "name": "A. Passenger", "sex": "male", "age": null, '
                '"sibsp": 0, "fare": 7.25, "embarked": "S"}',
            ],
        ),  # fmt: skip
        ("text_classification", ["--example", '["the rocket reached orbit"]']),
    ],
)
def test_sklambda_package_then_serve(
    name: str, options: list[str], tmp_path: Path, serve: Callable[..., ServedApp]
) -> None:
    """The command line end to end: `sklambda package` with a JSON example holding a string and a null, then
    `sklambda serve`."""
    entry = build(name)
    model_file = tmp_path / f"{name}.joblib"
    joblib.dump(entry.model, model_file)
    data_options = []
    if name not in TEXT_ENTRIES:
        entry.X.to_csv(tmp_path / "train.csv", index=False)
        data_options = ["--data", str(tmp_path / "train.csv")]
    model_dir = tmp_path / "model"
    result = run_cli("package", str(model_file), "--model-dir", str(model_dir), *data_options, *options)
    assert result.returncode == 0, result.stderr
    assert "of Lambda's 250 MB unzipped" in result.stderr
    manifest = read_manifest(model_dir)
    assert manifest.example == json.loads(options[1]) if options[1].startswith("[") else True
    server = serve(model_dir)
    assert server.wait_ready().status_code == 200
    with httpx.Client(base_url=server.url, timeout=30) as client:
        described = client.get("/model").json()
        assert described["task"] == manifest.task
        check_answers(Asker(client), entry, manifest)
    assert "does not have valid feature names" not in server.log()
