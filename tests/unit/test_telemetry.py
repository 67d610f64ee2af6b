"""Structured logs and EMF metrics: what is recorded, and that feature values never are."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from predict_service.loading import load_model_dir
from predict_service.manifest import MANIFEST_FILENAME
from predict_service.telemetry import Telemetry

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [6.3, 3.3, 6.0, 2.5]]


def emf_lines(output: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]
    return lines


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    captured: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append(record)

    handler = Capture(level=logging.DEBUG)
    service_logger = logging.getLogger("predict_service")
    previous = service_logger.level
    service_logger.setLevel(logging.INFO)
    service_logger.addHandler(handler)
    yield captured
    service_logger.removeHandler(handler)
    service_logger.setLevel(previous)


def test_prediction_emits_emf_metrics(client: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    response = client.post("/predict", json={"instances": ROWS})
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    [metric] = emf_lines(capsys.readouterr().out)
    definition = metric["_aws"]["CloudWatchMetrics"][0]
    assert definition["Namespace"] == "sklambda"
    assert definition["Dimensions"] == [["model_version", "service"]]
    assert metric["model_version"] == "1.0.0"
    assert metric["Predictions"] == [1.0]
    assert metric["Rows"] == [3.0]
    assert metric["LatencyMs"][0] > 0
    class_counts = {name: value[0] for name, value in metric.items() if name.startswith("PredictedClass_")}
    assert class_counts == {f"PredictedClass_{label}": float(predictions.count(label)) for label in set(predictions)}


@pytest.mark.parametrize(
    ("send", "kind"),
    [
        (lambda c: c.post("/predict", json={"features": [1]}), "InvalidInputError"),
        (
            lambda c: c.post("/predict", content=b"{", headers={"content-type": "application/json"}),
            "MalformedBodyError",
        ),
        (lambda c: c.get("/nowhere"), "Http404"),
    ],
)
def test_errors_emit_metric_by_kind(
    client: TestClient, capsys: pytest.CaptureFixture[str], records: list[logging.LogRecord], send: Any, kind: str
) -> None:
    capsys.readouterr()
    response = send(client)
    [metric] = emf_lines(capsys.readouterr().out)
    assert metric["Errors"] == [1.0]
    assert metric["kind"] == kind
    [record] = [r for r in records if r.getMessage() == "request rejected"]
    assert record.__dict__["error_kind"] == kind
    assert record.__dict__["status"] == response.status_code
    assert record.__dict__["request_id"] == response.headers["x-request-id"]


def test_prediction_log_line_has_context_but_no_feature_values(
    client: TestClient, records: list[logging.LogRecord]
) -> None:
    distinctive = [[7.123456, 3.654321, 5.987654, 2.111111]]
    response = client.post("/predict", json={"instances": distinctive})
    [record] = [r for r in records if r.getMessage() == "prediction"]
    fields = record.__dict__
    assert fields["request_id"] == response.headers["x-request-id"]
    assert fields["rows"] == 1
    assert fields["model_version"] == "1.0.0"
    assert fields["latency_ms"] > 0
    assert isinstance(fields["cold_start"], bool)
    everything_logged = json.dumps({k: str(v) for k, v in fields.items()})
    assert not any(str(value) in everything_logged for value in distinctive[0])


def test_cold_start_flag_is_true_only_for_the_first_request(
    make_client: Any, demo_runtime: Any, records: list[logging.LogRecord]
) -> None:
    client = make_client(demo_runtime)
    for _ in range(3):
        client.post("/predict", json={"features": ROWS[0]})
    flags = [r.__dict__["cold_start"] for r in records if r.getMessage() == "prediction"]
    assert flags == [True, False, False]


def test_values_unlike_the_training_data_are_counted_per_feature(
    demo_model_dir: Path,
    tmp_path: Path,
    make_client: Callable[..., TestClient],
    capsys: pytest.CaptureFixture[str],
) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(demo_model_dir, model_dir)
    manifest = json.loads((model_dir / MANIFEST_FILENAME).read_text())
    for feature in manifest["features"]:
        feature["range"] = [0.0, 10.0]
    (model_dir / MANIFEST_FILENAME).write_text(json.dumps(manifest))
    client = make_client(load_model_dir(model_dir))
    capsys.readouterr()
    rows = [[5.1, 3.5, 1.4, 0.2], [11.0, 3.0, -1.0, 2.3], [12.0, 3.0, 5.0, 2.0]]
    assert client.post("/predict", json={"instances": rows}).status_code == 200
    drift = {
        line["feature"]: line["OutOfRangeValues"] for line in emf_lines(capsys.readouterr().out) if "feature" in line
    }
    assert drift == {"sepal_length": [2.0], "petal_length": [1.0]}
    # A request inside every range emits no drift line at all.
    assert client.post("/predict", json={"instances": rows[:1]}).status_code == 200
    assert not [line for line in emf_lines(capsys.readouterr().out) if "feature" in line]


def test_unknown_categories_are_emitted_with_their_feature_as_dimension(capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    # Without a model version: Powertools shares default dimensions between instances, and the app's are set.
    Telemetry("ns", None).drift({}, {"city": 3})
    [line] = emf_lines(capsys.readouterr().out)
    assert line["UnknownCategories"] == [3.0] and line["feature"] == "city"
    assert line["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "feature"]]
