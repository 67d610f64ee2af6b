"""The seed project's `makePrediction` (tests/browser/legacy/make-prediction.js, unchanged) against the new API."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from .conftest import LEGACY, ApiServer, PageRecorder, StaticSite, http_json

pytestmark = pytest.mark.browser

# Resolves to the thrown Error's message, or null on success, so the test sees both outcomes as data.
CALL_AND_CATCH = """async (features) => {
  try { return {ok: true, value: await makePrediction(features)}; }
  catch (e) { return {ok: false, name: e.name, message: e.message}; }
}"""

# The brief's seed code, line by line (one line is longer than ruff allows, hence the split literal).
SEED = "\n".join(
    (
        "async function makePrediction(features) {",
        "  const response = await fetch(API_URL + '/predict', {method: 'POST', headers: {'Content-Type': "
        "'application/json'},",
        "    body: JSON.stringify({features})});",
        "  if (!response.ok) { const errorData = await response.json(); throw new Error(errorData.error || "
        "'Prediction failed'); }",
        "  return await response.json();",
        "}",
    )
)


def open_legacy(page: PageRecorder, origin: str, api: ApiServer) -> Any:
    page.page.goto(f"{origin}/legacy/index.html?api={quote(api.url, safe='')}")
    page.page.wait_for_function("typeof makePrediction === 'function'")
    return page.page


def test_seed_code_is_unchanged() -> None:
    assert SEED in (LEGACY / "make-prediction.js").read_text()


def test_make_prediction_succeeds(page: PageRecorder, site: StaticSite, api_server: ApiServer) -> None:
    legacy = open_legacy(page, site.allowed_origin, api_server)
    example = api_server.manifest["example"]

    outcome = legacy.evaluate(CALL_AND_CATCH, example)

    status, truth, _ = http_json("POST", api_server.url + "/predict", {"features": example})
    assert status == 200
    assert outcome == {"ok": True, "value": truth}


def test_make_prediction_with_named_features(page: PageRecorder, site: StaticSite, api_server: ApiServer) -> None:
    legacy = open_legacy(page, site.allowed_origin, api_server)
    named = dict(zip(api_server.manifest["feature_names"], api_server.manifest["example"], strict=True))

    outcome = legacy.evaluate(CALL_AND_CATCH, named)

    _, truth, _ = http_json("POST", api_server.url + "/predict", {"features": api_server.manifest["example"]})
    assert outcome["ok"], outcome
    assert outcome["value"]["prediction"] == truth["prediction"]


def test_make_prediction_surfaces_the_api_error_message(
    page: PageRecorder, site: StaticSite, api_server: ApiServer
) -> None:
    legacy = open_legacy(page, site.allowed_origin, api_server)
    too_short = api_server.manifest["example"][:-1]

    outcome = legacy.evaluate(CALL_AND_CATCH, too_short)

    status, body, _ = http_json("POST", api_server.url + "/predict", {"features": too_short})
    assert status == 422
    assert isinstance(body["error"], str) and body["error"]
    # The seed reads errorData.error: the message must be the API's sentence, not the 'Prediction failed' fallback.
    assert outcome == {"ok": False, "name": "Error", "message": body["error"]}


def test_make_prediction_is_blocked_from_another_origin(
    page: PageRecorder, site: StaticSite, api_server: ApiServer
) -> None:
    legacy = open_legacy(page, site.blocked_origin, api_server)

    outcome = legacy.evaluate(CALL_AND_CATCH, api_server.manifest["example"])

    assert outcome == {"ok": False, "name": "TypeError", "message": "Failed to fetch"}
    assert any("blocked by CORS policy" in line for line in page.console), page.console
