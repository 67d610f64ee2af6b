"""The Lambda handler driven by real API Gateway events (from `sam local generate-event`, see events/README.md)."""

from __future__ import annotations

import base64
import copy
import importlib
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import joblib
import pytest
from predict_service.manifest import MODEL_FILENAME

from sklambda.invoking import FakeLambdaContext, http_api_event
from tests.conftest import load_event


@pytest.fixture(scope="module")
def handler_module(demo_model_dir: Path) -> ModuleType:
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("MODEL_DIR", str(demo_model_dir))
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", "https://app.example.com")
    sys.modules.pop("handler", None)
    module = importlib.import_module("handler")
    monkeypatch.undo()
    return module


def call(handler_module: ModuleType, event: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    response = handler_module.handler(event, FakeLambdaContext())
    body = response["body"]
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    headers = {key.lower(): value for key, value in (response.get("headers") or {}).items()}
    return response["statusCode"], headers, json.loads(body) if body else None


def with_body(event: dict[str, Any], body: object, **headers: str) -> dict[str, Any]:
    event = copy.deepcopy(event)
    event["body"] = base64.b64encode(json.dumps(body).encode()).decode()
    event["isBase64Encoded"] = True
    event.setdefault("headers", {}).update(headers)
    return event


@pytest.mark.parametrize("event_file", ["http-api-predict.json", "rest-api-predict.json"])
def test_predict_event_both_payload_formats(handler_module: ModuleType, demo_model_dir: Path, event_file: str) -> None:
    model = joblib.load(demo_model_dir / MODEL_FILENAME)
    status, headers, body = call(handler_module, load_event(event_file))
    assert status == 200
    assert body["prediction"] == model.predict([[5.1, 3.5, 1.4, 0.2]]).tolist()
    assert body["model_version"] == "1.0.0"
    assert headers["x-request-id"]


@pytest.mark.parametrize("event_file", ["http-api-health.json", "rest-api-health.json"])
def test_health_event_both_payload_formats(handler_module: ModuleType, event_file: str) -> None:
    status, _, body = call(handler_module, load_event(event_file))
    assert (status, body) == (200, {"status": "ok", "model_name": "iris-demo", "model_version": "1.0.0"})


def test_model_event(handler_module: ModuleType) -> None:
    status, _, body = call(handler_module, load_event("http-api-model.json"))
    assert status == 200
    assert body["feature_names"] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def test_request_id_is_lambdas(handler_module: ModuleType) -> None:
    context = FakeLambdaContext()
    response = handler_module.handler(load_event("http-api-health.json"), context)
    assert response["headers"]["x-request-id"] == context.aws_request_id


@pytest.mark.parametrize("event_file", ["http-api-predict.json", "rest-api-predict.json"])
def test_invalid_input_through_api_gateway_is_422(handler_module: ModuleType, event_file: str) -> None:
    event = with_body(load_event(event_file), {"features": [1, 2, "x", 4]})
    status, _, body = call(handler_module, event)
    assert status == 422
    assert "petal_length must be a number" in body["error"]


def test_batch_through_http_api(handler_module: ModuleType, demo_model_dir: Path) -> None:
    model = joblib.load(demo_model_dir / MODEL_FILENAME)
    rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
    event = with_body(load_event("http-api-predict.json"), {"instances": rows, "return_probabilities": True})
    status, _, body = call(handler_module, event)
    assert status == 200
    assert body["predictions"] == model.predict(rows).tolist()
    assert len(body["probabilities"]) == 3


def test_unknown_route_through_http_api_is_json_404(handler_module: ModuleType) -> None:
    status, _, body = call(handler_module, http_api_event("GET", "/admin", None, {}))
    assert status == 404
    assert body["error"].startswith("Not found")


def test_cors_through_handler(handler_module: ModuleType) -> None:
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
    status, headers, _ = call_raw(handler_module, preflight)
    assert status == 200
    assert headers["access-control-allow-origin"] == "https://app.example.com"
    blocked = http_api_event(
        "OPTIONS", "/predict", None, {"origin": "https://evil.example", "access-control-request-method": "POST"}
    )
    context = FakeLambdaContext()
    response = handler_module.handler(blocked, context)
    headers = {key.lower(): value for key, value in response["headers"].items()}
    assert response["statusCode"] == 400
    assert "access-control-allow-origin" not in headers
    # Refused like every other error: a JSON body naming the origin, Lambda's request id, nosniff.
    assert headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-request-id"] == context.aws_request_id
    body = json.loads(base64.b64decode(response["body"]) if response["isBase64Encoded"] else response["body"])
    assert body == {
        "error": "CORS preflight refused: the origin 'https://evil.example' is not allowed (CORS_ALLOW_ORIGINS)",
        "detail": {"refused": ["origin"], "origin": "https://evil.example"},
        "request_id": context.aws_request_id,
    }


def call_raw(handler_module: ModuleType, event: dict[str, Any]) -> tuple[int, dict[str, str], str]:
    response = handler_module.handler(event, FakeLambdaContext())
    headers = {key.lower(): value for key, value in (response.get("headers") or {}).items()}
    return response["statusCode"], headers, response.get("body", "")
