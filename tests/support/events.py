"""API Gateway events: the shipped ones in events/ (from `sam local generate-event`), and changed copies."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

from tests.support.data import REPO_ROOT

EVENTS_DIR = REPO_ROOT / "events"


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))
    return event


def with_body(event: dict[str, Any], body: bytes, **headers: str) -> dict[str, Any]:
    """A copy of `event` carrying `body` base64-encoded (as API Gateway sends binary or non-UTF-8 bodies), with
    `headers` added."""
    event = copy.deepcopy(event)
    event["body"] = base64.b64encode(body).decode()
    event["isBase64Encoded"] = True
    event.setdefault("headers", {}).update(headers)
    return event
