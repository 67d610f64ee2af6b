"""`npm run dev` (Vite's dev server, unbundled modules, the client read from ../clients/js) against the API."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from .conftest import ARTIFACTS, ROOT, ApiServer, PageRecorder, http_json, unavailable

pytestmark = pytest.mark.browser

VITE = ROOT / "frontend" / "node_modules" / ".bin" / "vite"
START_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def dev_server(dev_origin: str, api_server: ApiServer) -> Iterator[str]:
    if not VITE.exists():
        unavailable(f"{VITE} missing: install the frontend's dependencies (make frontend-install)")
    port = dev_origin.rsplit(":", 1)[1]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / "vite-dev.log"
    # VITE_API_URL from the environment beats frontend/.env, exactly as a developer would override it.
    env = {**os.environ, "VITE_API_URL": api_server.url, "BROWSER": "none"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(VITE), "--host", "127.0.0.1", "--port", port, "--strictPort"],
            cwd=ROOT / "frontend",
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"vite exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(dev_origin + "/", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vite did not answer in {START_TIMEOUT_S} s:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.2)
        yield dev_origin
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_dev_server_page_predicts(page: PageRecorder, dev_server: str, api_server: ApiServer) -> None:
    demo = page.page
    demo.goto(dev_server + "/")
    assert demo.get_by_test_id("api-url").inner_text() == api_server.url

    with demo.expect_response(lambda r: r.url.endswith("/predict")) as answer:
        demo.get_by_role("button", name="Predict").click()
    assert answer.value.status == 200

    _, truth, _ = http_json("POST", api_server.url + "/predict", {"features": api_server.manifest["example"]})
    classes = [str(c) for c in api_server.manifest["classes"]]
    label = api_server.manifest["class_names"][classes.index(str(truth["prediction"][0]))]
    assert demo.get_by_test_id("predicted-label").inner_text() == label
