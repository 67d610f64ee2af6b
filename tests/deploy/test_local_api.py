"""`make local-api`: the built function and layer behind SAM CLI's own API Gateway emulation, under awslambdaric
(Python 3.13), without Docker. Driven over HTTP as a browser or client would (deploy/local_api.py)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import joblib
import pytest

from .conftest import ARTIFACTS, REPO_ROOT, SamBuild
from .local_api_server import SAM_PYTHON, LocalApi, running_local_api

pytestmark = pytest.mark.deploy

ALLOWED = "http://allowed.test:8080"
FOREIGN = "http://foreign.test:8080"
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]


@pytest.fixture(scope="module")
def local_api(x86_build: SamBuild) -> Iterator[LocalApi]:
    with running_local_api(x86_build.build_dir, {"AllowedOrigins": ALLOWED}, ARTIFACTS / "local-api.log") as api:
        yield api


@pytest.fixture(scope="module")
def built_model(x86_build: SamBuild) -> object:
    return joblib.load(x86_build.layer_dir / "model" / "model.joblib")


def read_cors_with_sam(template: Path, overrides: dict[str, str]) -> dict[str, object] | None:
    """The CORS that SAM CLI's own template readers see (what `sam local start-api` serves)."""
    script = (
        "import json, sys\n"
        "from samcli.lib.providers.api_provider import ApiProvider\n"
        "from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider\n"
        "stacks, _ = SamLocalStackProvider.get_stacks(sys.argv[1], parameter_overrides=json.loads(sys.argv[2]))\n"
        "cors = ApiProvider(stacks).api.cors\n"
        "print(json.dumps(cors._asdict() if cors else None))\n"
    )
    result = subprocess.run(
        [str(SAM_PYTHON), "-c", script, str(template), json.dumps(overrides)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    cors: dict[str, object] | None = json.loads(result.stdout.strip().splitlines()[-1])
    return cors


@pytest.mark.parametrize(
    ("overrides", "origins"),
    [
        ({}, "http://localhost:5173,http://127.0.0.1:5173"),
        ({"AllowedOrigins": "https://a.example,https://b.example"}, "https://a.example,https://b.example"),
    ],
)
def test_sam_reads_the_template_cors(overrides: dict[str, str], origins: str) -> None:
    cors = read_cors_with_sam(REPO_ROOT / "template.yaml", overrides)
    assert cors == {
        "allow_origin": origins,
        "allow_methods": "GET,OPTIONS,POST",
        "allow_headers": "content-type,authorization",
        "allow_credentials": None,
        "max_age": 600,
    }


def test_predict_single_batch_and_named(local_api: LocalApi, built_model: object) -> None:
    single = httpx.post(f"{local_api.url}/predict", json={"features": ROWS[0]}, timeout=60)
    assert single.status_code == 200, single.text
    assert single.json()["prediction"] == built_model.predict(ROWS[:1]).tolist()  # type: ignore[attr-defined]
    assert single.headers["x-request-id"]

    batch = httpx.post(f"{local_api.url}/predict", json={"instances": ROWS, "return_probabilities": True}, timeout=60)
    assert batch.status_code == 200, batch.text
    assert batch.json()["predictions"] == built_model.predict(ROWS).tolist()  # type: ignore[attr-defined]
    assert len(batch.json()["probabilities"]) == len(ROWS)

    names = httpx.get(f"{local_api.url}/model", timeout=60).json()["feature_names"]
    named = httpx.post(f"{local_api.url}/predict", json={"features": dict(zip(names, ROWS[1], strict=True))})
    assert named.json()["prediction"] == built_model.predict(ROWS[1:2]).tolist()  # type: ignore[attr-defined]


def test_errors_keep_the_api_shape(local_api: LocalApi) -> None:
    invalid = httpx.post(f"{local_api.url}/predict", json={"features": [1, 2, "x", 4]}, timeout=60)
    assert invalid.status_code == 422
    assert "must be a number" in invalid.json()["error"]
    assert invalid.json()["detail"]
    # $default sends unknown paths to the app, so the 404 has the API's shape too.
    unknown = httpx.get(f"{local_api.url}/admin", timeout=60)
    assert unknown.status_code == 404
    assert unknown.json()["error"].startswith("Not found")


def test_model_health_and_docs(local_api: LocalApi, x86_build: SamBuild) -> None:
    manifest = json.loads((x86_build.layer_dir / "model" / "model.json").read_text())
    model = httpx.get(f"{local_api.url}/model", timeout=60)
    assert model.status_code == 200
    assert model.json()["version"] == manifest["version"]
    health = httpx.get(f"{local_api.url}/health", timeout=60)
    assert (health.status_code, health.json()["status"]) == (200, "ok")
    docs = httpx.get(f"{local_api.url}/docs", timeout=60)
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert httpx.get(f"{local_api.url}/openapi.json", timeout=60).json()["paths"]["/predict"]


@pytest.mark.parametrize(("origin", "allowed"), [(ALLOWED, True), (FOREIGN, False)])
def test_cors_preflight_and_request(local_api: LocalApi, origin: str, allowed: bool) -> None:
    preflight = httpx.options(
        f"{local_api.url}/predict",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
        timeout=60,
    )
    request = httpx.post(f"{local_api.url}/predict", json={"features": ROWS[0]}, headers={"Origin": origin}, timeout=60)
    assert request.status_code == 200
    if allowed:
        assert preflight.headers["access-control-allow-origin"] == origin
        assert "POST" in preflight.headers["access-control-allow-methods"].split(",")
        assert "content-type" in preflight.headers["access-control-allow-headers"].split(",")
        assert request.headers["access-control-allow-origin"] == origin
    else:
        assert "access-control-allow-origin" not in preflight.headers
        assert "access-control-allow-origin" not in request.headers


def test_one_warm_environment_serves_every_request(local_api: LocalApi) -> None:
    for _ in range(3):
        assert httpx.get(f"{local_api.url}/health", timeout=60).status_code == 200
    log = local_api.log()
    assert log.count("Init Duration") == 1, log[-3000:]
    assert log.count("REPORT RequestId") >= 4


@pytest.mark.parametrize(
    ("overrides", "logged"),
    [
        # Importing scikit-learn takes longer than a second: the init runs into the function timeout.
        ({"Timeout": "1"}, ['"errorType": "Sandbox.Timedout"', "Task timed out after 1.00 seconds"]),
        # Invalid settings fail Lambda's init: the app's line naming the variable, then Lambda's init report.
        ({"LogLevel": "LOUD"}, ["LOG_LEVEL must be one of", "Phase: init Status: error", '"errorType": ']),
    ],
)
def test_timeouts_and_init_errors_are_lambdas(
    x86_build: SamBuild, overrides: dict[str, str], logged: list[str]
) -> None:
    log_path = ARTIFACTS / f"local-api-{next(iter(overrides))}.log"
    with running_local_api(x86_build.build_dir, overrides, log_path, wait_healthy=False) as api:
        response = httpx.post(f"{api.url}/predict", json={"features": ROWS[0]}, timeout=120)
        # The next request starts a new environment, and fails the same way.
        again = httpx.get(f"{api.url}/health", timeout=120)
    # What an HTTP API answers for a failed invocation (SAM's emulation does the same); Lambda's error in the log.
    assert (response.status_code, again.status_code) == (500, 500)
    assert response.json() == {"message": "Internal server error"}
    log = log_path.read_text()
    for line in logged:
        assert line in log, log[-3000:]
    assert log.count("START RequestId") == 2
