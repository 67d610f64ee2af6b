"""Fixtures for the real-browser tests: a trained demo model, `sklambda serve` on one loopback port, the built
frontend on two others (one origin the API allows, one it does not), and Debian's Chromium driven by Playwright.

Chromium is never downloaded: Playwright gets `executable_path`. When it is absent the browser tests are skipped,
except under CI=true where a missing prerequisite must fail the build instead of silently passing it."""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "frontend" / "dist"
LEGACY = Path(__file__).resolve().parent / "legacy"
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The console script sits next to the interpreter running pytest (.venv/bin), whatever the current directory.
SKLAMBDA = Path(sys.executable).with_name("sklambda")
API_START_TIMEOUT_S = 60.0


def unavailable(reason: str) -> NoReturn:
    """Skip locally, fail on CI: a CI run that skips the browser tests would prove nothing."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true, so this is an error rather than a skip)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_json(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any, dict[str, str]]:
    """A tiny stdlib HTTP call for the test's own view of the API (no CORS involved)."""
    data = None if body is None else json.dumps(body).encode()
    all_headers = {"Content-Type": "application/json"} if body is not None else {}
    all_headers.update(headers or {})
    request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null"), dict(response.headers.items())
    except urllib.error.HTTPError as error:
        with error:
            payload = error.read()
            return error.code, json.loads(payload) if payload else None, dict(error.headers.items())


@dataclass
class ApiServer:
    url: str
    allowed_origin: str
    process: subprocess.Popen[bytes]
    log_path: Path
    manifest: dict[str, Any] = field(default_factory=dict)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class StaticSite:
    root: Path
    allowed_origin: str
    blocked_origin: str


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly trained demo model, so the tests never depend on what `make model` left behind."""
    if not SKLAMBDA.exists():
        unavailable(f"{SKLAMBDA} not found: install the project into the venv (make .venv/.installed)")
    target = tmp_path_factory.mktemp("model")
    completed = subprocess.run(
        [str(SKLAMBDA), "train", "--model-dir", str(target)], capture_output=True, text=True, timeout=300, check=False
    )
    assert completed.returncode == 0, f"sklambda train failed:\n{completed.stdout}\n{completed.stderr}"
    return target


@pytest.fixture(scope="package")
def origins() -> tuple[str, str]:
    """(allowed, blocked): two loopback origins differing only by port, which is enough to be cross-origin."""
    return f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="package")
def dev_origin() -> str:
    """Where the Vite dev server runs in the dev-mode test; the API allows it too."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="package")
def api_server(model_dir: Path, origins: tuple[str, str], dev_origin: str) -> Iterator[ApiServer]:
    allowed_origin, _ = origins
    port = free_port()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / "api-server.log"
    env = {**os.environ, "CORS_ALLOW_ORIGINS": f"{allowed_origin},{dev_origin}"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(SKLAMBDA), "serve", "--host", "127.0.0.1", "--port", str(port), "--model-dir", str(model_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )
    server = ApiServer(f"http://127.0.0.1:{port}", allowed_origin, process, log_path)
    try:
        deadline = time.monotonic() + API_START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"sklambda serve exited with {process.returncode}:\n{server.log()}")
            try:
                status, _, _ = http_json("GET", server.url + "/health")
                if status == 200:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"sklambda serve did not get healthy in {API_START_TIMEOUT_S} s:\n{server.log()}")
            time.sleep(0.1)
        status, server.manifest, _ = http_json("GET", server.url + "/model")
        assert status == 200, server.manifest
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="package")
def local_api_server(origins: tuple[str, str], dev_origin: str) -> Iterator[ApiServer]:
    """The built function and layer (`make sam-build`, shared with the deploy tests in one run) behind SAM CLI's API
    Gateway emulation, as `make local-api` serves them: CORS is answered from template.yaml's CorsConfiguration, as
    in the cloud, not by the app's middleware."""
    from tests.deploy.conftest import SAM, sam_build
    from tests.deploy.local_api_server import running_local_api

    if not SAM.is_file():
        unavailable(f"{SAM} not found: run `make sam-install` (make test does it)")
    allowed_origin, _ = origins
    build = sam_build("x86_64")
    overrides = {"AllowedOrigins": f"{allowed_origin},{dev_origin}"}
    with running_local_api(build.build_dir, overrides, ARTIFACTS / "local-api.log") as api:
        server = ApiServer(api.url, allowed_origin, api.process, api.log_path)
        status, server.manifest, _ = http_json("GET", server.url + "/model")
        assert status == 200, server.manifest
        yield server


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging: pytest would show it for every failing test."""


@pytest.fixture(scope="package")
def site(tmp_path_factory: pytest.TempPathFactory, origins: tuple[str, str]) -> Iterator[StaticSite]:
    """The built demo (and the legacy page under /legacy/) served on both origins, like a CDN would."""
    if not (DIST / "index.html").exists():
        unavailable(f"{DIST}/index.html missing: build the frontend first (make frontend-build)")
    root = tmp_path_factory.mktemp("site")
    shutil.copytree(DIST, root, dirs_exist_ok=True)
    shutil.copytree(LEGACY, root / "legacy")
    servers = []
    threads = []
    for origin in origins:
        port = int(origin.rsplit(":", 1)[1])
        handler = functools.partial(QuietHandler, directory=str(root))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        thread = threading.Thread(target=server.serve_forever, name=f"static-{port}", daemon=True)
        thread.start()
        servers.append(server)
        threads.append(thread)
    try:
        yield StaticSite(root, *origins)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        for thread in threads:
            thread.join(timeout=5)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Package-scoped on purpose: while Playwright's sync API is active, its asyncio loop runs in this thread, and
    code in later test packages that calls loop.run_until_complete (Mangum does) would fail with "This event loop
    is already running"."""
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@dataclass
class PageRecorder:
    page: Any
    console: list[str]
    name: str

    def screenshot(self, label: str = "final") -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[PageRecorder]:
    """A fresh browser context per test; its console is recorded and a screenshot is kept as an artifact."""
    context = browser.new_context(viewport={"width": 900, "height": 760}, device_scale_factor=1)
    context.set_default_timeout(15_000)
    new_page = context.new_page()
    console: list[str] = []
    new_page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    new_page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    recorder = PageRecorder(new_page, console, re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name))
    try:
        yield recorder
    finally:
        try:
            recorder.screenshot()
            (ARTIFACTS / f"{recorder.name}-console.log").write_text("\n".join(console) + "\n")
        finally:
            context.close()
