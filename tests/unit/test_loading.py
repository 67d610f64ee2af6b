"""Init-time loading: settings, the runtime model.json names (imported through the registry), and the one
CRITICAL line each failure leaves in the log."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from predict_service.config import Settings
from predict_service.errors import InvalidSettingsError, ModelLoadError
from predict_service.loading import load_model_dir, load_runtime, resolve_model_dir, settings_for_init
from predict_service.manifest import MANIFEST_FILENAME
from predict_service.runtimes import RUNTIMES, runtime_class
from predict_service.runtimes.base import ModelRuntimeBase

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", list(RUNTIMES))
def test_every_registered_runtime_is_importable_and_named_as_registered(name: str, tmp_path: Path) -> None:
    implementation = runtime_class(name, tmp_path)
    assert issubclass(implementation, ModelRuntimeBase)
    assert implementation.name == name
    assert implementation.spec() is RUNTIMES[name]


@pytest.mark.parametrize("name", list(RUNTIMES))
def test_every_registered_runtime_has_its_layer_requirements_file(name: str) -> None:
    requirements = REPO_ROOT / "layers" / "model" / RUNTIMES[name].requirements
    pins = [line for line in requirements.read_text().splitlines() if line and not line.startswith("#")]
    assert any(pin.split("==")[0] == RUNTIMES[name].library for pin in pins), pins


def test_no_model_file_belongs_to_two_runtimes() -> None:
    files = [name for spec in RUNTIMES.values() for name in spec.model_files]
    assert len(files) == len(set(files))


def test_the_manifest_picks_the_runtime(demo_model_dir: Path, demo_onnx_model_dir: Path) -> None:
    for model_dir in (demo_model_dir, demo_onnx_model_dir):
        runtime = load_model_dir(model_dir)
        assert type(runtime).name == runtime.manifest.runtime  # type: ignore[attr-defined]


def test_a_runtime_whose_libraries_are_missing_says_how_to_install_them(
    demo_onnx_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the scikit-learn layer looks like to an ONNX model: no onnxruntime to import.
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    monkeypatch.delitem(sys.modules, "predict_service.runtimes.onnx", raising=False)
    with pytest.raises(ModelLoadError) as raised:
        load_model_dir(demo_onnx_model_dir)
    assert raised.value.message.startswith(f"The model in {demo_onnx_model_dir} is an ONNX model but onnxruntime ")
    assert "`pip install -r layers/model/requirements-onnx.txt` to serve it locally" in raised.value.message
    assert raised.value.detail == {"model_dir": str(demo_onnx_model_dir), "runtime": "onnx"}


def test_an_unknown_runtime_in_the_manifest_names_the_known_ones(demo_model_dir: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(demo_model_dir, model_dir)
    manifest = json.loads((model_dir / MANIFEST_FILENAME).read_text())
    (model_dir / MANIFEST_FILENAME).write_text(json.dumps({**manifest, "runtime": "tpu"}))
    with pytest.raises(ModelLoadError, match=r"runtime: runtime 'tpu' is not one of 'sklearn', 'onnx'"):
        load_model_dir(model_dir)


def test_load_runtime_logs_one_critical_line_then_raises(tmp_path: Path, service_log: pytest.LogCaptureFixture) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(ModelLoadError):
        load_runtime(Settings(model_dir=missing))
    # The same record may reach caplog twice (through the service logger and the root logger it propagates to).
    [record] = {id(r): r for r in service_log.records if r.levelno == logging.CRITICAL}.values()
    assert record.getMessage() == (
        f"model not loaded: Model directory {missing} does not exist: run `sklambda train` (demo model) or "
        f"`sklambda package MODEL.joblib`, or set MODEL_DIR"
    )
    assert record.detail == {"model_dir": str(missing)}  # type: ignore[attr-defined]


def test_an_s3_model_without_its_sha256_is_refused_before_any_download() -> None:
    with pytest.raises(ModelLoadError, match="MODEL_S3_URI is set but MODEL_SHA256 is not"):
        resolve_model_dir(Settings(model_s3_uri="s3://bucket/model"))


def test_settings_for_init_logs_bad_settings_at_the_default_level_then_raises(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MAX_BATCH_ROWS", "0")
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    with pytest.raises(InvalidSettingsError):
        settings_for_init()
    # The JSON line Lambda sends to CloudWatch, although LOG_LEVEL itself is one of the bad settings.
    [line] = [json.loads(text) for text in capsys.readouterr().out.splitlines() if '"CRITICAL"' in text]
    assert line["message"].startswith("settings not valid: MAX_BATCH_ROWS='0' is not valid: ")
    assert [item["setting"] for item in line["detail"]] == ["MAX_BATCH_ROWS", "LOG_LEVEL"]


def test_the_init_entry_point_imports_no_numpy_before_it_can_name_a_missing_stack() -> None:
    # loading.lambda_handler reads the settings and only then imports the app: a layer without numpy must be reported
    # in its CRITICAL line, which needs loading and config to import without the stack.
    code = (
        "import sys, predict_service.loading, predict_service.config; "
        "print(sorted({'numpy', 'sklearn'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
