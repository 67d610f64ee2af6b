"""A short `make load`: python -m bench.load run as users run it, on a real `sklambda serve`; answers must equal the
single-threaded ones and the model's own predict."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
from predict_service.manifest import MODEL_FILENAME

from tests.support.data import REPO_ROOT

LOAD = [sys.executable, "-m", "bench.load"]


def run_load(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LOAD, *args], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)


def test_short_load_has_no_errors_and_identical_predictions(demo_model_dir: Path, tmp_path: Path) -> None:
    figures_path = tmp_path / "load.json"
    result = run_load(
        *("--clients", "8", "--duration", "3", "--seed", "1", "--model-dir", str(demo_model_dir)),
        *("--json", str(figures_path), "--log-dir", str(tmp_path)),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: no errors, every answer equals the single-threaded one" in result.stdout
    figures = json.loads(figures_path.read_text())
    assert figures["ok"] and figures["errors"] == 0, result.stdout
    assert figures["label_mismatches"] == 0 and figures["probability_mismatches"] == 0, result.stdout
    # Enough traffic that requests really overlapped: 8 clients for 3 s, even on a slow 2-core machine.
    assert figures["requests"] >= 100, result.stdout
    assert set(figures["kinds"]) == {"single", "named", "batch"}
    assert figures["rows"] == sum(figures["labels"].values())
    # The reference itself is right: the served single-row answers are the model's own predict on the same rows.
    model = joblib.load(demo_model_dir / MODEL_FILENAME)
    rows = np.array(figures["pool"], dtype=np.float64)
    reference = figures["reference"]
    assert [answer["label"] for answer in reference] == model.predict(rows).tolist()
    assert len({answer["label"] for answer in reference}) == 3  # the pool exercises every iris class
    served = np.array([list(answer["probabilities"].values()) for answer in reference])
    np.testing.assert_allclose(served, model.predict_proba(rows), rtol=0, atol=1e-12)
    # The server's own log saw exactly this traffic (the reference requests, then the load): nothing lost or extra.
    logged = (tmp_path / "serve.log").read_text().count('"message":"prediction"')
    assert logged == len(reference) + figures["requests"]


def test_load_refuses_unbounded_runs(demo_model_dir: Path) -> None:
    for flags, message in [
        (("--clients", "257"), "--clients must be between 1 and 256"),
        (("--clients", "0"), "--clients must be between 1 and 256"),
        (("--duration", "601"), "--duration must be more than 0 and at most 600"),
        (("--duration", "0"), "--duration must be more than 0 and at most 600"),
    ]:
        result = run_load(*flags, "--model-dir", str(demo_model_dir))
        assert result.returncode == 2, flags
        assert message in result.stderr
        assert "serving" not in result.stdout  # refused before any server started
