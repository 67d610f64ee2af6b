"""`sklambda serve` in a subprocess on a free loopback port, for the load benchmark and the tests that need a real
server: started, waited for (GET /health), stopped, its output kept."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ServedApp:
    """`sklambda serve --model-dir MODEL_DIR` with the current environment plus `env`. Output goes to a log file, not
    a pipe: a pipe nobody reads fills up after a few thousand access-log lines and then blocks the server."""

    def __init__(self, model_dir: Path, log_path: Path | None = None, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if log_path is None:
            handle, name = tempfile.mkstemp(prefix="sklambda-serve-", suffix=".log")
            os.close(handle)
            log_path = Path(name)
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sklambda.cli", "serve", "--port", str(self.port), "--model-dir", str(model_dir)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )

    def wait_ready(self, timeout: float = 60) -> httpx.Response:
        """The first answer of GET /health (200 when the model loaded, 503 when it did not)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                return httpx.get(f"{self.url}/health", timeout=2)
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError(f"server did not answer /health within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> str:
        """Stop the server (terminate, then kill after 20 s) and return everything it wrote."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)
        if not self._log.closed:
            self._log.close()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
