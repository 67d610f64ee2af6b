"""The api package's own rules: error statuses along the class hierarchy, the 404 text from the routers, and /docs
served whole by the app (no CDN)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from predict_service.api.app import ROUTERS, served_routes
from predict_service.api.error_handlers import status_of
from predict_service.api.routes.docs import CONTENT_SECURITY_POLICY
from predict_service.errors import InvalidInputError, ServiceError, TooManyRowsError
from predict_service.predictions import PredictionRuntime


class NarrowInputError(InvalidInputError):
    """A more specific bad input, as a runtime or decoder might define."""


class UnmappedError(ServiceError):
    """A service error no status is mapped to."""


def test_a_subclass_gets_its_parents_status() -> None:
    assert status_of(NarrowInputError("x")) == status_of(InvalidInputError("x")) == 422
    assert status_of(TooManyRowsError("x")) == 413
    assert status_of(UnmappedError("x")) == 500


@pytest.mark.parametrize(("error", "status"), [(NarrowInputError, 422), (UnmappedError, 500)])
def test_raised_subclasses_are_answered_with_their_status(
    make_client: Callable[..., TestClient], demo_runtime: PredictionRuntime, error: type[ServiceError], status: int
) -> None:
    client = make_client(demo_runtime)

    async def failing() -> None:
        raise error("the message", {"why": "test"})

    client.app.add_api_route("/failing", failing)  # type: ignore[attr-defined]
    response = client.get("/failing")
    assert response.status_code == status
    body = response.json()
    assert body["request_id"] == response.headers["x-request-id"]
    # A mapped error says what is wrong; an unmapped one says nothing of its internals.
    assert body["error"] == ("the message" if status == 422 else "Internal server error")


def test_not_found_lists_the_routes_of_the_routers(
    make_client: Callable[..., TestClient], demo_runtime: PredictionRuntime
) -> None:
    served = "POST /predict, GET /model, GET /health and GET /docs"
    assert served_routes(ROUTERS) == served
    assert make_client(demo_runtime).get("/nowhere").json()["error"] == f"Not found: this API serves {served}"
    extra = APIRouter()
    extra.add_api_route("/extra", lambda: None, methods=["PUT"])
    assert served_routes([*ROUTERS, extra]) == served.replace(" and ", ", ") + " and PUT /extra"


def test_docs_page_loads_nothing_from_elsewhere(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY and "script-src 'self';" in CONTENT_SECURITY_POLICY
    assert page.headers["x-content-type-options"] == "nosniff"
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text)  # every asset is the app's own
    assert "<script>" not in page.text and "<style" not in page.text  # nothing inline for the CSP to allow
    assets = re.findall(r"(?:src|href)=\"(docs\?asset=[^\"]+)\"", page.text)
    assert len(assets) == 3
    for asset in assets:
        response = client.get("/" + asset)
        assert response.status_code == 200, asset
        assert response.headers["content-type"].startswith(("text/javascript", "text/css"))
        assert response.headers["cache-control"].startswith("public")
    assert b"SwaggerUIBundle" in client.get("/docs?asset=swagger-ui-bundle.js").content


def test_docs_refuses_unknown_assets(client: TestClient) -> None:
    response = client.get("/docs?asset=../../etc/passwd")
    assert response.status_code == 404
    assert response.json()["error"].startswith("Not found")
