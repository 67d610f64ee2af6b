"""Shared fixtures: real models trained into temporary directories, and clients of the real app."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from predict_service import runtimes
from predict_service.api import create_app
from predict_service.config import Settings
from predict_service.loading import load_model_dir
from predict_service.predictions import PredictionRuntime

from sklambda.served import ServedApp
from sklambda.training import train_demo


@pytest.fixture(scope="session")
def demo_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in demo model, trained by the same code as `sklambda train`. Tests must not modify it."""
    model_dir = tmp_path_factory.mktemp("demo") / "model"
    train_demo(model_dir)
    return model_dir


# The API must behave identically whichever runtime serves the model, so everything built on `demo_runtime` (the
# API tests, the telemetry tests, the hardening matrix) runs against both.
RUNTIMES = list(runtimes.RUNTIMES)


@pytest.fixture(scope="session")
def demo_onnx_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo model packaged for onnxruntime (`sklambda train --runtime onnx`): the same fitted pipeline (same
    seed) as `demo_model_dir`, plus model.onnx verified against it. Tests must not modify it."""
    model_dir = tmp_path_factory.mktemp("demo-onnx") / "model"
    train_demo(model_dir, runtime="onnx")
    return model_dir


@pytest.fixture(scope="session", params=RUNTIMES)
def demo_runtime(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> PredictionRuntime:
    """The demo model served by each runtime in the registry (the default runtime's directory is demo_model_dir)."""
    if request.param == runtimes.DEFAULT_RUNTIME:
        model_dir: Path = request.getfixturevalue("demo_model_dir")
    elif request.param == "onnx":
        model_dir = request.getfixturevalue("demo_onnx_model_dir")
    else:
        model_dir = tmp_path_factory.mktemp(f"demo-{request.param}") / "model"
        train_demo(model_dir, runtime=request.param)
    return load_model_dir(model_dir)


@pytest.fixture
def make_client() -> Iterator[Callable[..., TestClient]]:
    """Build a TestClient for the real app with any settings; clients are closed after the test."""
    clients: list[TestClient] = []

    def build(runtime: PredictionRuntime | None, **settings: Any) -> TestClient:
        app: FastAPI = create_app(Settings(**settings), runtime)
        client = TestClient(app, raise_server_exceptions=False)
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., TestClient], demo_runtime: PredictionRuntime) -> TestClient:
    return make_client(demo_runtime)


@pytest.fixture
def service_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog, listening on the service logger: it does not propagate to the root logger once JSON logging is
    configured (Lambda's root handler would print every line twice), so caplog alone would not see its records."""
    service_logger = logging.getLogger("predict_service")
    service_logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        service_logger.removeHandler(caplog.handler)


@pytest.fixture
def serve() -> Iterator[Callable[..., ServedApp]]:
    """Start `sklambda serve` on a model directory in a subprocess (ServedApp); every server is stopped afterwards."""
    started: list[ServedApp] = []

    def start(model_dir: Path, env: dict[str, str] | None = None) -> ServedApp:
        server = ServedApp(model_dir, env=env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
