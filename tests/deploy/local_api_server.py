"""Start `python -m deploy.local_api` (what `make local-api` runs) on a free port, for the deploy and browser tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SAM_PYTHON = REPO_ROOT / ".venv-sam" / "bin" / "python"
LAMBDA_PYTHON = REPO_ROOT / ".venv-lambda" / "bin" / "python"
# A cold start on a busy 2-core CI runner: SAM reading the template, then importing scikit-learn under awslambdaric.
START_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class LocalApi:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=60) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def running_local_api(
    build_dir: Path, overrides: dict[str, str], log_path: Path, wait_healthy: bool = True
) -> Iterator[LocalApi]:
    """The built artifact in `build_dir` behind SAM's API Gateway emulation, once /health answers 200 (or, with
    `wait_healthy=False`, once the port accepts connections: for functions meant to fail); stopped with Ctrl-C
    (SIGINT) after."""
    for python, fix in ((SAM_PYTHON, "make sam-install"), (LAMBDA_PYTHON, "make lambda-venv")):
        if not python.is_file():
            pytest.fail(f"{python} missing: run `{fix}` (make test does it through TEST_PREREQS)")
    port = free_port()
    command = [str(SAM_PYTHON), "-m", "deploy.local_api", "--build-dir", str(build_dir), "--port", str(port)]
    # Relative to the repository, as `make local-api` passes it (the function runs with another working directory).
    command += ["--lambda-python", str(LAMBDA_PYTHON.relative_to(REPO_ROOT)), "--parameter-overrides"]
    command += [f"{name}={value}" for name, value in overrides.items()]
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env["SAM_CLI_TELEMETRY"] = "0"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    api = LocalApi(f"http://127.0.0.1:{port}", process, log_path)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (healthy(api.url) if wait_healthy else listening(port)):
            if process.poll() is not None:
                pytest.fail(f"local-api exited with {process.returncode}:\n{api.log()[-4000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"local-api not healthy after {START_TIMEOUT_S} s:\n{api.log()[-4000:]}")
            time.sleep(0.2)
        yield api
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
