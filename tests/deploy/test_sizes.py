"""deploy.sizes on small hand-made build directories: which runtimes `make build` compares, and the report line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from predict_service.runtimes import RUNTIMES

REPO_ROOT = Path(__file__).resolve().parents[2]


def sizes(*args: str) -> subprocess.CompletedProcess[str]:
    # As mk/deploy.mk runs it: a module from the repository root, no sys.path edits.
    return subprocess.run(
        [sys.executable, "-m", "deploy.sizes", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )


def fake_build(root: Path, runtime: str) -> Path:
    """A `sam build` output with a function and a model layer serving `runtime`."""
    (root / "PredictFunction").mkdir(parents=True)
    (root / "PredictFunction" / "handler.py").write_bytes(b"x" * 2048)
    model = root / "ModelLayer" / "model"
    model.mkdir(parents=True)
    (model / "model.json").write_text(json.dumps({"runtime": runtime}))
    return root


@pytest.mark.parametrize("built", list(RUNTIMES))
def test_other_runtimes_are_every_registered_runtime_but_the_built_one(tmp_path: Path, built: str) -> None:
    result = sizes(str(fake_build(tmp_path / "build", built)), "--other-runtimes")
    assert result.returncode == 0, result.stderr
    others = result.stdout.split()
    assert built not in others and sorted([*others, built]) == sorted(RUNTIMES)


def test_compare_reports_each_runtime_given(tmp_path: Path) -> None:
    build = fake_build(tmp_path / "build", "sklearn")
    stack = tmp_path / "stack"
    stack.mkdir()
    (stack / "lib.so").write_bytes(b"y" * (3 * 1024 * 1024))

    result = sizes(str(build), "--compare", f"onnx={stack}")

    assert result.returncode == 0, result.stderr
    assert "model runtime: sklearn" in result.stdout
    assert (
        "with the onnx runtime instead: layer libraries 3.0 MB, function + layer 3.0 MB plus the model "
        "(`sklambda package/train --runtime onnx`)"
    ) in result.stdout


def test_compare_refuses_a_runtime_that_is_not_registered(tmp_path: Path) -> None:
    result = sizes(str(fake_build(tmp_path / "build", "sklearn")), "--compare", f"tpu={tmp_path}")
    assert result.returncode == 2
    assert "'tpu=" in result.stderr and "is not RUNTIME=DIR" in result.stderr


def test_the_report_names_each_model_requirement_and_refuses_over_budget_naming_the_biggest(tmp_path: Path) -> None:
    build = fake_build(tmp_path / "build", "sklearn")
    layer = build / "ModelLayer"
    (layer / "model" / "model.json").write_text(
        json.dumps({"runtime": "sklearn", "requirements": {"xgboost": "3.2.0"}})
    )
    site = layer / "python"
    (site / "xgboost").mkdir(parents=True)
    (site / "xgboost" / "core.pyc").write_bytes(b"x" * (2 * 1024 * 1024))
    (site / "xgboost_cpu.libs").mkdir()
    (site / "xgboost_cpu.libs" / "libgomp.so").write_bytes(b"g" * (1024 * 1024))
    info = site / "xgboost_cpu-3.2.0.dist-info"
    info.mkdir()
    # RECORD names the sources pip installed; the build replaced xgboost/core.py by its .pyc.
    (info / "RECORD").write_text("xgboost/core.py,sha256=x,1\nxgboost_cpu.libs/libgomp.so,sha256=y,2\n")
    (site / "scipy").mkdir()
    (site / "scipy" / "big.so").write_bytes(b"s" * (4 * 1024 * 1024))

    fitting = sizes(str(build), "--budget-mb", "100")
    over = sizes(str(build), "--budget-mb", "5")

    assert fitting.returncode == 0, fitting.stderr
    assert "model requirement xgboost==3.2.0 (as xgboost-cpu)" in fitting.stdout
    assert "3.0 MB" in fitting.stdout.split("model requirement xgboost==3.2.0 (as xgboost-cpu)")[1].splitlines()[0]
    assert over.returncode == 1
    error = next(line for line in over.stdout.splitlines() if line.startswith("ERROR:"))
    assert (
        "the biggest parts: ModelLayer/python/scipy 4.0 MB, xgboost==3.2.0 (as xgboost-cpu) (model requirement)"
        in error
    )
    assert "--runtime onnx" in error
