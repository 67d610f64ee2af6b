"""The bad-input matrix: one table of hostile or broken requests, each with the status the API documents.

Every case goes through the real app (TestClient over ASGI) or, for API Gateway's base64 bodies, through the real
Lambda handler (Mangum) with an events/http-api-predict.json event. Whatever the input, the answer is JSON with
nosniff, never a 500, and error bodies stay small (nothing a caller sends is echoed back in bulk).
The table is tests/support/bad_inputs.py's CASES; a test below keeps docs/bad-inputs.md, its rendering, current.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from predict_service.config import DEFAULT_MAX_BODY_BYTES, Settings
from predict_service.loading import load_model_dir
from predict_service.predictions import PredictionRuntime

from sklambda.invoking import Handler
from tests.support.bad_inputs import (
    CASES,
    DOC_PATH,
    MAX_ERROR_BODY_BYTES,
    MAX_TEXT_CHARS,
    ROW,
    BadInput,
    dumps,
    render,
)
from tests.support.events import load_event, with_body
from tests.support.handlers import invoke_raw


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def send_http(client: TestClient, case: BadInput) -> Answer:
    response = client.request(case.method, case.path, content=case.body, headers=case.headers)
    return Answer(response.status_code, dict(response.headers), response.content)


def send_lambda(handler: Handler, case: BadInput) -> Answer:
    event = with_body(load_event("http-api-predict.json"), case.body or b"", **case.headers)
    return Answer(*invoke_raw(handler, event))


def params() -> list[Any]:
    return [
        pytest.param(case, id=case.case, marks=[pytest.mark.xfail(strict=True, reason=case.known_bug)])
        if case.known_bug
        else pytest.param(case, id=case.case)
        for case in CASES
    ]


def client_for(
    case: BadInput, request: pytest.FixtureRequest, client: TestClient, runtime: PredictionRuntime
) -> TestClient:
    """The client of the model the case names, served by the runtime the iris client's model is served by."""
    if case.model == "iris":
        return client
    make_client: Callable[..., TestClient] = request.getfixturevalue("make_client")
    if case.model == "typed":
        model_dirs: dict[str, Path] = request.getfixturevalue("typed_model_dirs")
        return make_client(load_model_dir(model_dirs[runtime.manifest.runtime]))
    if runtime.manifest.runtime != "sklearn":
        pytest.skip("text models are served by the scikit-learn runtime")
    return make_client(load_model_dir(request.getfixturevalue("text_model_dir")))


@pytest.mark.parametrize("case", params())
def test_bad_input_gets_documented_status(
    request: pytest.FixtureRequest,
    client: TestClient,
    demo_runtime: PredictionRuntime,
    lambda_handler: Handler,
    case: BadInput,
) -> None:
    if case.via == "lambda":
        answer = send_lambda(lambda_handler, case)
    else:
        answer = send_http(client_for(case, request, client, demo_runtime), case)
    # JSON only, never sniffed as HTML: a <script> name in a body is then inert text inside a JSON string.
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["x-content-type-options"] == "nosniff"
    body = json.loads(answer.body)
    assert answer.status == case.status, body
    if case.status == 200:
        assert case.error in answer.body.decode()
        return
    assert set(body) == {"error", "detail", "request_id"}
    assert case.error in body["error"], body["error"][:500]
    assert body["request_id"] == answer.headers["x-request-id"]
    assert len(answer.body) <= MAX_ERROR_BODY_BYTES, f"{len(answer.body)} bytes of error for {case.case}"


def test_the_matrix_limits_are_the_defaults() -> None:
    assert Settings().max_text_chars == MAX_TEXT_CHARS


def test_cases_are_distinct_and_cover_every_error_status() -> None:
    assert len({case.case for case in CASES}) == len(CASES)
    assert {case.status for case in CASES} >= {200, 400, 404, 405, 413, 415, 422}
    assert len(dumps({"instances": [ROW] * 350_000})) > DEFAULT_MAX_BODY_BYTES  # the "7 MB" cases really are too big


def test_committed_doc_matches_the_table() -> None:
    assert DOC_PATH.read_text(encoding="utf-8") == render(CASES), (
        f"{Path(DOC_PATH).name} is out of date: run `.venv/bin/python -m tests.hardening.render_bad_inputs`"
    )
