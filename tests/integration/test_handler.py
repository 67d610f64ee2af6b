"""The Lambda handler driven by real API Gateway events (from `sam local generate-event`, see events/README.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
import pytest
from predict_service.api.handler import build_handler
from predict_service.manifest import MODEL_FILENAME

from sklambda.invoking import FakeLambdaContext, Handler, http_api_event
from tests.support.events import load_event, with_body
from tests.support.handlers import handler_for, invoke_raw


@pytest.fixture(scope="module")
def handler(demo_model_dir: Path) -> Handler:
    return handler_for(demo_model_dir, cors_allow_origins=("https://app.example.com",))


def call(handler: Handler, event: dict[str, Any], context: Any = None) -> tuple[int, dict[str, str], Any]:
    status, headers, body = invoke_raw(handler, event, context)
    return status, headers, json.loads(body) if body else None


def with_json_body(event: dict[str, Any], document: object) -> dict[str, Any]:
    return with_body(event, json.dumps(document).encode())


@pytest.mark.parametrize("event_file", ["http-api-predict.json", "rest-api-predict.json"])
def test_predict_event_both_payload_formats(handler: Handler, demo_model_dir: Path, event_file: str) -> None:
    model = joblib.load(demo_model_dir / MODEL_FILENAME)
    status, headers, body = call(handler, load_event(event_file))
    assert status == 200
    assert body["prediction"] == model.predict([[5.1, 3.5, 1.4, 0.2]]).tolist()
    assert body["model_version"] == "1.0.0"
    assert headers["x-request-id"]


@pytest.mark.parametrize("event_file", ["http-api-health.json", "rest-api-health.json"])
def test_health_event_both_payload_formats(handler: Handler, event_file: str) -> None:
    status, _, body = call(handler, load_event(event_file))
    assert (status, body) == (200, {"status": "ok", "model_name": "iris-demo", "model_version": "1.0.0"})


def test_model_event(handler: Handler) -> None:
    status, _, body = call(handler, load_event("http-api-model.json"))
    assert status == 200
    assert body["feature_names"] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def test_request_id_is_lambdas(handler: Handler) -> None:
    context = FakeLambdaContext()
    _, headers, _ = call(handler, load_event("http-api-health.json"), context)
    assert headers["x-request-id"] == context.aws_request_id


@pytest.mark.parametrize("event_file", ["http-api-predict.json", "rest-api-predict.json"])
def test_invalid_input_through_api_gateway_is_422(handler: Handler, event_file: str) -> None:
    event = with_json_body(load_event(event_file), {"features": [1, 2, "x", 4]})
    status, _, body = call(handler, event)
    assert status == 422
    assert "petal_length must be a number" in body["error"]


def test_batch_through_http_api(handler: Handler, demo_model_dir: Path) -> None:
    model = joblib.load(demo_model_dir / MODEL_FILENAME)
    rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
    event = with_json_body(load_event("http-api-predict.json"), {"instances": rows, "return_probabilities": True})
    status, _, body = call(handler, event)
    assert status == 200
    assert body["predictions"] == model.predict(rows).tolist()
    assert len(body["probabilities"]) == 3


def test_unknown_route_through_http_api_is_json_404(handler: Handler) -> None:
    status, _, body = call(handler, http_api_event("GET", "/admin", None, {}))
    assert status == 404
    assert body["error"].startswith("Not found")


def test_cors_through_handler(handler: Handler) -> None:
    preflight = http_api_event(
        "OPTIONS",
        "/predict",
        None,
        {
            "origin": "https://app.example.com",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )
    status, headers, _ = invoke_raw(handler, preflight)
    assert status == 200
    assert headers["access-control-allow-origin"] == "https://app.example.com"
    blocked = http_api_event(
        "OPTIONS", "/predict", None, {"origin": "https://evil.example", "access-control-request-method": "POST"}
    )
    context = FakeLambdaContext()
    status, headers, body = call(handler, blocked, context)
    assert status == 400
    assert "access-control-allow-origin" not in headers
    # Refused like every other error: a JSON body naming the origin, Lambda's request id, nosniff.
    assert headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-request-id"] == context.aws_request_id
    assert body == {
        "error": "CORS preflight refused: the origin 'https://evil.example' is not allowed (CORS_ALLOW_ORIGINS)",
        "detail": {"refused": ["origin"], "origin": "https://evil.example"},
        "request_id": context.aws_request_id,
    }


def test_handler_without_settings_reads_them_from_the_environment(
    demo_onnx_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What handler.py does in Lambda's init: MODEL_DIR and the other settings come from the function's environment.
    monkeypatch.setenv("MODEL_DIR", str(demo_onnx_model_dir))
    monkeypatch.setenv("MAX_BATCH_ROWS", "7")
    status, _, body = call(build_handler(), load_event("http-api-model.json"))
    assert status == 200
    assert (body["runtime"], body["max_batch_rows"]) == ("onnx", 7)
