"""The React demo in real Chromium, served from a different origin than the API: CORS is part of what is tested."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

import pytest

from .conftest import ROOT, ApiServer, PageRecorder, StaticSite, http_json

pytestmark = pytest.mark.browser

DOCS_SCREENSHOT = ROOT / "docs" / "img" / "demo.png"


@pytest.fixture(scope="module")
def api_server(local_api_server: ApiServer) -> ApiServer:
    """The demo page against the built artifact behind API Gateway-style routing and CORS (`make local-api`)."""
    return local_api_server


def open_demo(page: PageRecorder, origin: str, api: ApiServer) -> Any:
    page.page.goto(f"{origin}/index.html?api={quote(api.url, safe='')}")
    return page.page


def expected_label(api: ApiServer, label: Any) -> str:
    classes = [str(c) for c in api.manifest["classes"]]
    names = api.manifest.get("class_names") or classes
    return str(names[classes.index(str(label))])


def test_form_is_built_from_the_model_manifest(page: PageRecorder, site: StaticSite, api_server: ApiServer) -> None:
    demo = open_demo(page, site.allowed_origin, api_server)
    form = demo.get_by_test_id("prediction-form")
    form.wait_for()

    inputs = form.locator("input, select")
    assert inputs.evaluate_all("els => els.map(e => e.name)") == api_server.manifest["feature_names"]
    assert [float(v) for v in inputs.evaluate_all("els => els.map(e => e.value)")] == api_server.manifest["example"]
    assert demo.get_by_test_id("model-version").inner_text() == api_server.manifest["version"]
    assert demo.get_by_test_id("api-url").inner_text() == api_server.url


def test_prediction_from_an_allowed_origin(page: PageRecorder, site: StaticSite, api_server: ApiServer) -> None:
    demo = open_demo(page, site.allowed_origin, api_server)
    # A row unlike the prefilled example, so the page must send what was typed.
    row = [6.7, 3.0, 5.2, 2.3]
    for name, value in zip(api_server.manifest["feature_names"], row, strict=True):
        demo.locator(f"input[name='{name}']").fill(str(value))

    with demo.expect_response(lambda r: r.url.endswith("/predict") and r.request.method == "POST") as answer:
        demo.get_by_role("button", name="Predict").click()
    response = answer.value
    assert response.status == 200
    assert response.headers["access-control-allow-origin"] == site.allowed_origin

    status, truth, _ = http_json("POST", api_server.url + "/predict", {"features": row, "return_probabilities": True})
    assert status == 200, truth
    assert demo.get_by_test_id("predicted-label").inner_text() == expected_label(api_server, truth["prediction"][0])

    bars = demo.get_by_test_id("probability-bar")
    shown = dict(
        zip(
            bars.evaluate_all("els => els.map(e => e.dataset.class)"),
            map(float, bars.evaluate_all("els => els.map(e => e.dataset.probability)")),
            strict=True,
        )
    )
    assert shown == pytest.approx(truth["probabilities"][0])
    assert bars.count() == len(api_server.manifest["classes"])
    assert demo.locator(".bar.predicted").get_attribute("data-class") == str(truth["prediction"][0])
    assert demo.get_by_test_id("result-model").inner_text() == (
        f"Answered by {truth['model_name']} v{truth['model_version']}"
    )
    assert not demo.get_by_test_id("error").is_visible()

    page.screenshot("prediction")
    if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        demo.locator("main").screenshot(path=str(DOCS_SCREENSHOT))


def test_validation_error_is_shown_readably(page: PageRecorder, site: StaticSite, api_server: ApiServer) -> None:
    demo = open_demo(page, site.allowed_origin, api_server)
    second = api_server.manifest["feature_names"][1]
    demo.locator(f"input[name='{second}']").fill("")

    with demo.expect_response(lambda r: r.url.endswith("/predict")) as answer:
        demo.get_by_role("button", name="Predict").click()
    response = answer.value
    assert response.status == 422
    # Exposed, so a page's own code can read the id from the header even when the body has none.
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()
    body = response.json()

    error = demo.get_by_test_id("error")
    assert error.get_attribute("data-kind") == "http"
    assert "HTTP 422" in error.locator("h2").inner_text()
    assert demo.get_by_test_id("error-message").inner_text() == body["error"]
    # The id the browser could read (exposed header or body) is shown, so a user can quote it in a bug report.
    assert demo.get_by_test_id("request-id").inner_text() == response.headers["x-request-id"] == body["request_id"]
    assert not demo.get_by_test_id("result").is_visible()


def test_blocked_origin_shows_a_cors_error(page: PageRecorder, site: StaticSite, api_server: ApiServer) -> None:
    # The server itself answers; it is the browser that refuses to hand the response to the page.
    status, _, headers = http_json("GET", api_server.url + "/model", headers={"Origin": site.blocked_origin})
    assert status == 200
    assert "access-control-allow-origin" not in {k.lower() for k in headers}

    demo = open_demo(page, site.blocked_origin, api_server)
    error = demo.get_by_test_id("error")
    error.wait_for()

    assert error.get_attribute("data-kind") == "network"
    assert "CORS" in error.locator("h2").inner_text()
    message = demo.get_by_test_id("error-message").inner_text()
    assert api_server.url in message
    assert "CORS_ALLOW_ORIGINS" in message
    assert not demo.get_by_test_id("prediction-form").is_visible()
    assert any("blocked by CORS policy" in line for line in page.console), page.console
    page.screenshot("cors-error")
