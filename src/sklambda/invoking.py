"""`sklambda invoke`: run the Lambda handler in-process on an API Gateway event, no Docker needed."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from predict_service.api.handler import build_handler
from predict_service.loading import settings_for_init
from predict_service.logs import configure_logging

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class FakeLambdaContext:
    """The attributes of Lambda's context object that Mangum and the app read."""

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = "sklambda-local"
        self.memory_limit_in_mb = 1024
        self.invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:sklambda-local"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


class EventError(ValueError):
    """An event the handler cannot run; the message names its source and what is wrong, on one line."""


def http_api_event(method: str, path: str, body: str | None, headers: dict[str, str]) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event, shaped like `sam local generate-event`'s."""
    now = datetime.now(UTC)
    raw_path, _, raw_query = path.partition("?")
    # API Gateway paths always start with "/"; `--path predict` means /predict, not a route that cannot exist.
    if not raw_path.startswith("/"):
        raw_path = "/" + raw_path
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


def _missing(event: dict[str, Any], *paths: str) -> list[str]:
    """The dotted `paths` (e.g. "requestContext.http.method") that `event` does not have."""
    missing = []
    for path in paths:
        node: Any = event
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                missing.append(path)
                break
            node = node[part]
    return missing


def check_event(event: Any, source: str = "the event") -> dict[str, Any]:
    """`event` if the handler can run it: an API Gateway proxy event, HTTP API (payload format 2.0) or REST API
    (1.0). Otherwise EventError saying what is missing, before Mangum fails on it with a KeyError or a guess."""
    hint = "see events/ or `sam local generate-event apigateway http-api-proxy`"
    if not isinstance(event, dict):
        kinds = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
        kind = kinds.get(type(event), "null")
        raise EventError(f"{source}: expected an API Gateway proxy event (a JSON object), got {kind}; {hint}")
    # Mangum's own routing: "resource" means a REST API event, else "version" an HTTP API one (2.0 or 1.0).
    if "resource" in event or ("httpMethod" in event and "version" not in event):
        required = ["resource", "httpMethod", "path", "requestContext"]
    elif event.get("version") == "2.0":
        required = ["requestContext.http.method", "requestContext.http.path", "requestContext.http.sourceIp"]
    elif event.get("version") == "1.0":
        required = ["httpMethod", "path", "requestContext"]
    else:
        raise EventError(
            f'{source}: not an API Gateway proxy event: expected "version": "2.0" (HTTP API) or "httpMethod" and '
            f'"resource" (REST API); {hint}'
        )
    missing = _missing(event, *required)
    if missing:
        raise EventError(f"{source}: incomplete API Gateway proxy event: missing {', '.join(missing)}; {hint}")
    if not isinstance(event.get("body") or "", str):
        raise EventError(f'{source}: "body" must be a string (JSON text, or base64 with "isBase64Encoded": true)')
    return event


def load_event_file(path: Path) -> dict[str, Any]:
    """The API Gateway event in `path`, or EventError naming the file and what is wrong with it."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise EventError(f"{path}: not UTF-8 text (byte {error.start}); an event file is JSON") from None
    except OSError as error:
        raise EventError(f"{path}: cannot read the event file: {error.strerror or error}") from None
    try:
        event = json.loads(text)
    except json.JSONDecodeError as error:
        raise EventError(f"{path}: not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}") from None
    except (ValueError, RecursionError) as error:
        raise EventError(f"{path}: not valid JSON: {str(error)[:200]}") from None
    return check_event(event, str(path))


def load_handler(model_dir: Path | None) -> Handler:
    """The Lambda handler for the environment's settings (as on Lambda), serving `model_dir` when given."""
    # The handler's log lines go to stderr so that stdout holds only the response. An unknown LOG_LEVEL is left for
    # the settings check to report, with the other settings, instead of failing here first.
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    configure_logging(level if level in logging.getLevelNamesMapping() else "INFO", sys.stderr)
    settings = settings_for_init()
    if model_dir is not None:
        settings = settings.model_copy(update={"model_dir": model_dir})
    handler: Handler = build_handler(settings)
    return handler


def invoke(event: dict[str, Any], model_dir: Path | None) -> dict[str, Any]:
    check_event(event)
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
