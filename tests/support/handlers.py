"""Lambda handlers built from explicit settings, as Lambda's init builds one from the environment, and calls to them."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from predict_service.api.handler import build_handler
from predict_service.config import Settings

from sklambda.invoking import FakeLambdaContext, Handler


def handler_for(model_dir: Path, **settings: Any) -> Handler:
    """The service's real handler (model loaded, app behind Mangum) for `model_dir` and any other settings."""
    handler: Handler = build_handler(Settings(model_dir=model_dir, **settings))
    return handler


def invoke_raw(handler: Handler, event: dict[str, Any], context: Any = None) -> tuple[int, dict[str, str], bytes]:
    """Status, lower-cased headers and the decoded body bytes of one invocation."""
    response = handler(event, context or FakeLambdaContext())
    body = (response.get("body") or "").encode()
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body)
    headers = {key.lower(): value for key, value in (response.get("headers") or {}).items()}
    return response["statusCode"], headers, body
