"""`sklambda invoke`: run the Lambda handler in-process on an API Gateway event, no Docker needed."""

from __future__ import annotations

import base64
import contextlib
import importlib
import json
import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from predict_service.logs import configure_logging

FUNCTION_DIR = Path(__file__).resolve().parents[2] / "functions" / "predict"


class FakeLambdaContext:
    """The attributes of Lambda's context object that Mangum and the app read."""

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = "sklambda-local"
        self.memory_limit_in_mb = 1024
        self.invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:sklambda-local"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def http_api_event(method: str, path: str, body: str | None, headers: dict[str, str]) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event, shaped like `sam local generate-event`'s."""
    now = datetime.now(UTC)
    raw_path, _, raw_query = path.partition("?")
    all_headers = {
        "content-type": "application/json",
        "host": "localhost",
        **{k.lower(): v for k, v in headers.items()},
    }
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": all_headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": method.upper(),
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "sklambda-invoke",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if body is not None:
        event["body"] = body
    return event


def load_handler(model_dir: Path | None) -> Any:
    if model_dir is not None:
        os.environ["MODEL_DIR"] = str(model_dir)
    # The handler's log lines go to stderr so that stdout holds only the response.
    configure_logging(os.environ.get("LOG_LEVEL", "INFO").upper(), sys.stderr)
    if str(FUNCTION_DIR) not in sys.path:
        sys.path.insert(0, str(FUNCTION_DIR))
    return importlib.import_module("handler").handler


def invoke(event: dict[str, Any], model_dir: Path | None) -> dict[str, Any]:
    # Metrics (EMF) are printed to stdout as on Lambda; send them to stderr with the logs, so that stdout
    # carries only the response.
    with contextlib.redirect_stdout(sys.stderr):
        response: dict[str, Any] = load_handler(model_dir)(event, FakeLambdaContext())
    return response


def readable(response: dict[str, Any]) -> dict[str, Any]:
    """The response with its body decoded (and parsed when it is JSON), for printing."""
    body = response.get("body") or ""
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        parsed = body
    return {**response, "body": parsed, "isBase64Encoded": False}
