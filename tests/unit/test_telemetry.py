"""Structured logs and EMF metrics: what is recorded, and that feature values never are."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

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
