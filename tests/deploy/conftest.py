"""Fixtures for the deploy tests: real `sam build` outputs (made through mk/deploy.mk), the Lambda-version Python,
offline translations of template.yaml. Nothing here talks to AWS."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deploy.toolchain import find_target_python

REPO_ROOT = Path(__file__).resolve().parents[2]
SAM = REPO_ROOT / ".venv-sam" / "bin" / "sam"
MODEL_DIR = REPO_ROOT / "layers" / "model" / "model"
# Build outputs live in the gitignored test-artifacts/. Builds are never served from SAM's cache: the tests check
# what the makefile builds do.
ARTIFACTS = REPO_ROOT / "test-artifacts"
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def lambda_python_version() -> str:
    """LAMBDA_PYTHON from mk/deploy.mk: the one constant the builds use."""
    match = re.search(r"^LAMBDA_PYTHON\s*:=\s*(\S+)\s*$", (REPO_ROOT / "mk" / "deploy.mk").read_text(), re.MULTILINE)
    assert match, "mk/deploy.mk must define LAMBDA_PYTHON := X.Y"
    return match.group(1)


def sam_env() -> dict[str, str]:
    # No credentials, no telemetry, no ~/.aws: every SAM command here must work offline.
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(SAM_CLI_TELEMETRY="0", AWS_DEFAULT_REGION="us-east-1")
    return env


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False, **kwargs)


@pytest.fixture(scope="session")
def sam() -> Path:
    if not SAM.is_file():
        pytest.fail("SAM CLI missing: run `make sam-install` (make test does it through TEST_PREREQS)")
    return SAM


@pytest.fixture(scope="session")
def real_model_dir() -> Path:
    if not ((MODEL_DIR / "model.joblib").is_file() and (MODEL_DIR / "model.json").is_file()):
        pytest.fail("layers/model/model/ is empty: run `make model` (sklambda train)")
    return MODEL_DIR


@dataclass(frozen=True)
class SamBuild:
    build_dir: Path
    log: str

    @property
    def function_dir(self) -> Path:
        return self.build_dir / "PredictFunction"

    @property
    def layer_dir(self) -> Path:
        return self.build_dir / "ModelLayer"


@functools.cache
def sam_build(arch: str, resource: str = "", model_dir: Path | None = None, label: str = "") -> SamBuild:
    """`make sam-build`, i.e. exactly what `make build` runs, into test-artifacts/; `model_dir` replaces
    layers/model/model as the model the layer is built from. Once per test session for the same arguments: the
    deploy, local-api and browser tests share the builds."""
    build_dir = ARTIFACTS / "-".join(part for part in ("sam-build", arch, resource, label) if part)
    command = [
        "make",
        "--no-print-directory",
        "sam-build",
        f"ARCH={arch}",
        f"SAM_BUILD_DIR={build_dir}",
        f"SAM_CACHE_DIR={ARTIFACTS / f'sam-cache-{arch}'}",
        f"SAM_BUILD_RESOURCE={resource}",
        "SAM_CACHE=--no-cached",
    ]
    if model_dir is not None:
        command.append(f"LAYER_MODEL_DIR={model_dir}")
    result = run(command, env=sam_env(), timeout=900)
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{log[-4000:]}"
    assert "Build Succeeded" in log, log[-4000:]
    return SamBuild(build_dir, log)


@pytest.fixture(scope="session")
def x86_build(sam: Path, real_model_dir: Path) -> SamBuild:
    return sam_build("x86_64")


@pytest.fixture(scope="session")
def arm64_layer_build(sam: Path, real_model_dir: Path) -> SamBuild:
    return sam_build("arm64", resource="ModelLayer")


@pytest.fixture(scope="session")
def onnx_model_dir() -> Path:
    """The demo model packaged for the ONNX runtime (`sklambda train --runtime onnx`), outside layers/model/model."""
    model_dir = ARTIFACTS / "onnx-model"
    result = run([sys.executable, "-m", "sklambda.cli", "train", "--runtime", "onnx", "--model-dir", str(model_dir)])
    assert result.returncode == 0, result.stderr[-4000:]
    return model_dir


@pytest.fixture(scope="session")
def onnx_layer_build(sam: Path, onnx_model_dir: Path) -> SamBuild:
    return sam_build("x86_64", resource="ModelLayer", model_dir=onnx_model_dir, label="onnx")


@pytest.fixture(scope="session")
def target_python() -> Path:
    python = find_target_python(lambda_python_version())
    if python is None:
        message = f"no Python {lambda_python_version()} on this machine: the built artifacts cannot be run here"
        # Locally that only skips; in CI (CI=true) running the built artifacts is the point of these tests.
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message)
        pytest.skip(message)
    return python


@pytest.fixture
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((REPO_ROOT / "events" / name).read_text(encoding="utf-8"))
    return event
