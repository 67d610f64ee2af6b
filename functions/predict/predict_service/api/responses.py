"""The response shapes every part of the API answers with: orjson bodies and the one error body."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

NO_STORE = {"cache-control": "no-store"}


class JSONBody(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_body(request_id: str, message: str, detail: Any = None) -> dict[str, Any]:
    return {"error": message, "detail": detail, "request_id": request_id}
