"""The per-request log line: one JSON object carrying the structured log fields and the EMF metrics, written by the
service's own formatter, and never a feature value."""

from __future__ import annotations

import io
import json
import logging
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from predict_service.loading import load_model_dir
from predict_service.logs import JsonLineFormatter, route_warnings_to_log
from predict_service.manifest import MANIFEST_FILENAME
from predict_service.telemetry import Telemetry

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [6.3, 3.3, 6.0, 2.5]]


class Lines:
    """The service logger's output as the JSON lines its formatter writes, read back."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def take(self) -> list[dict[str, Any]]:
        text = self.stream.getvalue()
        self.stream.seek(0)
        self.stream.truncate()
        # One JSON object per line, nothing else.
        return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def lines() -> Iterator[Lines]:
    """The service logger at INFO, written through the real formatter to a buffer."""
    captured = Lines()
    handler = logging.StreamHandler(captured.stream)
    handler.setFormatter(JsonLineFormatter())
    service_logger = logging.getLogger("predict_service")
    previous = service_logger.level
    service_logger.setLevel(logging.INFO)
    service_logger.addHandler(handler)
    yield captured
    service_logger.removeHandler(handler)
    service_logger.setLevel(previous)


def emf_definition(line: dict[str, Any]) -> dict[str, Any]:
    [definition] = line["_aws"]["CloudWatchMetrics"]
    assert isinstance(line["_aws"]["Timestamp"], int)
    # EMF: every metric and dimension named in the definition is a top-level member of the same object.
    for metric in definition["Metrics"]:
        assert isinstance(line[metric["Name"]], int | float), metric
    for dimension_set in definition["Dimensions"]:
        for dimension in dimension_set:
            assert isinstance(line[dimension], str), dimension
    result: dict[str, Any] = definition
    return result


def test_a_prediction_writes_one_line_with_log_fields_and_emf_metrics(client: TestClient, lines: Lines) -> None:
    lines.take()
    response = client.post("/predict", json={"instances": ROWS})
    assert response.status_code == 200
    predictions = response.json()["predictions"]

    [line] = lines.take()
    definition = emf_definition(line)
    assert (line["level"], line["message"], line["service"]) == ("INFO", "prediction", "sklambda")
    assert line["request_id"] == response.headers["x-request-id"]
    assert line["location"].startswith("predict:")
    assert definition["Namespace"] == "sklambda"
    assert definition["Dimensions"] == [["service", "model_version"]]
    assert line["model_version"] == "1.0.0"
    assert (line["Predictions"], line["Rows"]) == (1, 3)
    assert line["LatencyMs"] > 0
    units = {metric["Name"]: metric["Unit"] for metric in definition["Metrics"]}
    assert units["LatencyMs"] == "Milliseconds" and units["Rows"] == "Count"
    class_counts = {name: value for name, value in line.items() if name.startswith("PredictedClass_")}
    assert class_counts == {f"PredictedClass_{label}": predictions.count(label) for label in set(predictions)}


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
def test_a_rejection_writes_one_line_with_its_kind_and_the_errors_metric(
    client: TestClient, lines: Lines, send: Any, kind: str
) -> None:
    lines.take()
    response = send(client)

    [line] = lines.take()
    definition = emf_definition(line)
    assert (line["level"], line["message"]) == ("INFO", "request rejected")
    assert definition["Dimensions"] == [["service", "model_version", "kind"]]
    assert (line["kind"], line["Errors"]) == (kind, 1)
    assert line["status"] == response.status_code
    assert line["request_id"] == response.headers["x-request-id"]


def test_the_request_line_is_written_at_every_log_level_because_it_carries_the_metrics(lines: Lines) -> None:
    logging.getLogger("predict_service").setLevel(logging.WARNING)
    Telemetry("sklambda", "2").prediction(4, 1.5, None, request_id="r-1")
    logging.getLogger("predict_service.any").info("an ordinary INFO line")

    [line] = lines.take()
    assert (line["message"], line["Rows"], line["request_id"]) == ("prediction", 4, "r-1")


def test_an_internal_error_line_carries_the_traceback_and_the_kind_the_alarm_filter_reads(lines: Lines) -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        Telemetry("sklambda", None).error("InternalError", "unhandled error", logging.ERROR, exc_info=True, status=500)

    [line] = lines.take()
    assert (line["level"], line["kind"], line["Errors"], line["status"]) == ("ERROR", "InternalError", 1, 500)
    assert line["exception_name"] == "RuntimeError" and "boom" in line["exception"]
    assert emf_definition(line)["Dimensions"] == [["service", "kind"]]


def test_prediction_line_has_context_but_no_feature_values(client: TestClient, lines: Lines) -> None:
    distinctive = [[7.123456, 3.654321, 5.987654, 2.111111]]
    response = client.post("/predict", json={"instances": distinctive})
    [line] = [line for line in lines.take() if line["message"] == "prediction"]
    assert line["request_id"] == response.headers["x-request-id"]
    assert isinstance(line["cold_start"], bool)
    everything_logged = json.dumps(line)
    assert not any(str(value) in everything_logged for value in distinctive[0])


def test_cold_start_flag_is_true_only_for_the_first_request(make_client: Any, demo_runtime: Any, lines: Lines) -> None:
    client = make_client(demo_runtime)
    for _ in range(3):
        client.post("/predict", json={"features": ROWS[0]})
    flags = [line["cold_start"] for line in lines.take() if line["message"] == "prediction"]
    assert flags == [True, False, False]


def test_python_warnings_become_json_warning_lines_of_the_service_log() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter())
    handler.sklambda = True  # type: ignore[attr-defined]  # as configure_logging marks its own handler
    service_logger = logging.getLogger("predict_service")
    service_logger.addHandler(handler)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            # Inside catch_warnings, which restores warnings.showwarning (what captureWarnings replaces) on exit.
            route_warnings_to_log()
            warnings.warn("joblib will operate in serial mode", UserWarning, stacklevel=1)
    finally:
        logging.captureWarnings(False)
        service_logger.removeHandler(handler)
        logging.getLogger("py.warnings").removeHandler(handler)

    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["level"] == "WARNING" and line["service"] == "sklambda"
    assert "UserWarning: joblib will operate in serial mode" in line["message"]


def test_timestamps_are_utc_to_the_millisecond_across_seconds() -> None:
    formatter = JsonLineFormatter()
    times = [(1_800_000_000, 250), (1_800_000_000, 999), (1_800_000_001, 4), (1_700_000_000, 500)]
    stamps = []
    for second, millis in times:
        record = logging.makeLogRecord({"msg": "tick", "levelname": "INFO"})
        record.created, record.msecs = second + millis / 1000, millis
        stamps.append(json.loads(formatter.format(record))["timestamp"])

    expected = [
        f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(second))},{millis:03d}+0000" for second, millis in times
    ]
    assert stamps == expected


def test_values_unlike_the_training_data_are_counted_per_feature(
    demo_model_dir: Path, tmp_path: Path, make_client: Callable[..., TestClient], lines: Lines
) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(demo_model_dir, model_dir)
    manifest = json.loads((model_dir / MANIFEST_FILENAME).read_text())
    for feature in manifest["features"]:
        feature["range"] = [0.0, 10.0]
    (model_dir / MANIFEST_FILENAME).write_text(json.dumps(manifest))
    client = make_client(load_model_dir(model_dir))
    lines.take()
    rows = [[5.1, 3.5, 1.4, 0.2], [11.0, 3.0, -1.0, 2.3], [12.0, 3.0, 5.0, 2.0]]
    response = client.post("/predict", json={"instances": rows})
    assert response.status_code == 200
    drift_lines = [line for line in lines.take() if line["message"] == "drift"]
    for line in drift_lines:
        assert emf_definition(line)["Dimensions"] == [["service", "model_version", "feature"]]
        assert line["request_id"] == response.headers["x-request-id"]
    assert {line["feature"]: line["OutOfRangeValues"] for line in drift_lines} == {"sepal_length": 2, "petal_length": 1}
    # A request inside every range writes its prediction line and no drift line.
    assert client.post("/predict", json={"instances": rows[:1]}).status_code == 200
    assert [line["message"] for line in lines.take()] == ["prediction"]


def test_unknown_categories_are_emitted_with_their_feature_as_dimension(lines: Lines) -> None:
    lines.take()
    Telemetry("ns", None).drift({}, {"city": 3})
    [line] = lines.take()
    assert line["UnknownCategories"] == 3 and line["feature"] == "city"
    assert emf_definition(line) == {
        "Namespace": "ns",
        "Dimensions": [["service", "feature"]],
        "Metrics": [{"Name": "UnknownCategories", "Unit": "Count"}],
    }
