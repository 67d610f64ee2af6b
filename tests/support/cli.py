"""The `sklambda` CLI run as users run it, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.data import REPO_ROOT

SKLAMBDA = [sys.executable, "-m", "sklambda.cli"]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SKLAMBDA, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
    )
