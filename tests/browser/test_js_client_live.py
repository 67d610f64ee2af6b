"""Runs the JS client's live tests (clients/js/test/live.test.js) under node against a real `sklambda serve`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from .conftest import ARTIFACTS, ROOT, ApiServer, unavailable

LIVE_TESTS = ROOT / "clients" / "js" / "test" / "live.test.js"


def test_js_client_against_the_local_server(api_server: ApiServer) -> None:
    node = shutil.which("node")
    if node is None:
        unavailable("node not found: the JS client tests need Node >= 18")
    completed = subprocess.run(
        [node, "--test", "--test-reporter=tap", str(LIVE_TESTS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "SKLAMBDA_API_URL": api_server.url},
        cwd=ROOT,
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "js-client-live.tap").write_text(completed.stdout + completed.stderr)
    assert completed.returncode == 0, completed.stdout + completed.stderr

    counts = dict(re.findall(r"^# (pass|fail|skipped|cancelled) (\d+)$", completed.stdout, re.MULTILINE))
    # A skipped suite also exits 0: insist that the tests really ran.
    assert int(counts["pass"]) >= 7, completed.stdout
    assert counts["fail"] == counts["skipped"] == counts["cancelled"] == "0", completed.stdout
