"""`sam build` (makefile builds, no Docker) for real, then the built function + layer run under the Lambda Python."""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import struct
import subprocess
import sys
from email.parser import Parser
from pathlib import Path
from typing import Any

import pytest

from deploy.sizes import DEFAULT_BUDGET_MB, MIB, measure, report, tree_bytes

from .conftest import REPO_ROOT, SamBuild, lambda_python_version, load_event

pytestmark = pytest.mark.deploy

ELF_MACHINE = {"x86_64": 62, "aarch64": 183}
# Runs inside the built artifacts: imports handler.py the way Lambda's bootstrap does, then answers events.
DRIVER = """
import json, sys, time
started = time.perf_counter()
import handler
init_seconds = time.perf_counter() - started

class Context:
    aws_request_id = "test-request-id"
    function_name = "sklambda-test-predict"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:sklambda-test-predict"
    log_group_name = "/aws/lambda/sklambda-test-predict"
    log_stream_name = "stream"
    def get_remaining_time_in_millis(self):
        return 10000

events = json.load(sys.stdin)
responses = [handler.handler(event, Context()) for event in events]
sklearn = sys.modules.get("sklearn")
onnxruntime = sys.modules.get("onnxruntime")
print(json.dumps({
    "init_seconds": init_seconds,
    "responses": responses,
    "python": "%d.%d" % sys.version_info[:2],
    "sklearn": [sklearn.__version__, sklearn.__file__] if sklearn else None,
    "onnxruntime": [onnxruntime.__version__, onnxruntime.__file__] if onnxruntime else None,
    "scipy_loaded": "scipy" in sys.modules,
    "fastapi_file": sys.modules["fastapi"].__file__,
}))
"""


def pinned_requirements(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[normalize(name)] = version
    return pins


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_distributions(site: Path) -> dict[str, tuple[str, str]]:
    """name -> (version, wheel tags) from the *.dist-info directories pip wrote."""
    found = {}
    for info in site.glob("*.dist-info"):
        metadata = Parser().parsestr((info / "METADATA").read_text(encoding="utf-8"))
        wheel = (info / "WHEEL").read_text(encoding="utf-8")
        tags = " ".join(line.split(": ", 1)[1] for line in wheel.splitlines() if line.startswith("Tag: "))
        found[normalize(metadata["Name"])] = (metadata["Version"], tags)
    return found


def elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", path
    machine: int = struct.unpack_from("<H", header, 18)[0]
    return machine


def run_built_handler(
    build: SamBuild, python: Path, events: list[dict[str, Any]], layer_dir: Path | None = None, **env: str
) -> dict[str, Any]:
    """The built function with the built layer (or `layer_dir`, another build's layer) as Lambda lays them out."""
    layer = layer_dir or build.layer_dir
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "MODEL_DIR": str(layer / "model"),
        "PYTHONPATH": f"{build.function_dir}:{layer / 'python'}",
        # /var/task and /opt are read-only on Lambda: only the byte code shipped in the build can be used.
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_LAMBDA_FUNCTION_NAME": "sklambda-test-predict",
        "AWS_DEFAULT_REGION": "us-east-1",
        "CORS_ALLOW_ORIGINS": "https://app.example.com",
        **env,
    }
    result = subprocess.run(
        [str(python), "-c", DRIVER],
        input=json.dumps(events),
        env=environment,
        cwd=build.build_dir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "InconsistentVersionWarning" not in result.stderr
    output: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return output


def with_origin(event: dict[str, Any], origin: str) -> dict[str, Any]:
    changed = copy.deepcopy(event)
    changed["headers"]["origin"] = origin
    if "multiValueHeaders" in changed:
        changed["multiValueHeaders"]["origin"] = [origin]
    return changed


def test_build_uses_both_platform_tags_and_the_lambda_python(x86_build: SamBuild, target_python: Path) -> None:
    assert "--platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64" in x86_build.log
    assert f"--python-version {lambda_python_version()}" in x86_build.log
    assert f"with {target_python}" in x86_build.log, "the build must byte-compile with the interpreter tests use"


def test_layer_carries_exactly_the_pinned_scikit_learn_stack_for_x86_64(x86_build: SamBuild) -> None:
    installed = installed_distributions(x86_build.layer_dir / "python")

    for name, version in pinned_requirements(REPO_ROOT / "layers" / "model" / "requirements.txt").items():
        assert installed[name][0] == version, name
    for name in ("numpy", "scipy", "scikit-learn"):
        assert "cp313" in installed[name][1] and "x86_64" in installed[name][1], installed[name]


def test_layer_holds_the_model_directory_from_make_model(x86_build: SamBuild, real_model_dir: Path) -> None:
    shipped = x86_build.layer_dir / "model"

    assert sorted(path.name for path in shipped.iterdir()) == ["model.joblib", "model.json"]
    for name in ("model.joblib", "model.json"):
        assert (shipped / name).read_bytes() == (real_model_dir / name).read_bytes()


def test_layer_is_slimmed_without_touching_vendored_libraries(x86_build: SamBuild) -> None:
    site = x86_build.layer_dir / "python"
    files = [path for path in site.rglob("*") if path.is_file()]

    assert not [p for p in site.rglob("tests") if p.is_dir()]
    assert not [p for p in files if p.suffix in {".pyx", ".pxd", ".c", ".cpp", ".h", ".pyi"}]
    assert not [p for p in files if "__pycache__" in p.parts]
    extensions = [p for p in files if re.search(r"\.cpython-\d+-.*\.so$", p.name) and ".libs" not in str(p)]
    assert extensions and all(b".symtab\x00" not in p.read_bytes() for p in extensions), "unstripped extension"
    vendored = [p for p in files if p.parent.name.endswith(".libs")]
    assert any(p.parent.name == "scipy.libs" for p in vendored) and any(p.parent.name == "numpy.libs" for p in vendored)


def test_layer_ships_byte_code_for_the_lambda_python(x86_build: SamBuild, target_python: Path) -> None:
    site = x86_build.layer_dir / "python"

    # Sourceless: every library module is a .pyc in place of its .py (compiled by the target Python).
    assert not list(site.rglob("*.py"))
    magic = subprocess.run(
        [str(target_python), "-c", "import importlib.util,sys; sys.stdout.write(importlib.util.MAGIC_NUMBER.hex())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert (site / "sklearn" / "__init__.pyc").read_bytes()[:4].hex() == magic


def test_function_ships_app_and_web_stack_but_not_boto3_or_scikit_learn(x86_build: SamBuild) -> None:
    function = x86_build.function_dir
    installed = installed_distributions(function)

    assert (function / "handler.py").is_file()
    assert (function / "predict_service" / "api" / "app.py").is_file()
    assert (function / "predict_service" / "model_source.py").is_file()
    for name, version in pinned_requirements(REPO_ROOT / "functions" / "predict" / "requirements.txt").items():
        assert installed[name][0] == version, name
    for absent in ("boto3", "botocore", "scikit-learn", "numpy", "scipy"):
        assert absent not in installed, absent
    assert not (function / "Makefile").exists() and not (function / "requirements.txt").exists()
    # unchecked-hash byte code: zip timestamps cannot make it look stale on the read-only /var/task.
    pyc = next((function / "predict_service" / "api" / "__pycache__").glob("app.cpython-313.pyc"))
    flags = struct.unpack_from("<I", pyc.read_bytes(), 4)[0]
    assert flags == 0b01


def test_build_fits_the_size_budget(x86_build: SamBuild) -> None:
    artifacts = measure(x86_build.build_dir)
    text, fits = report(artifacts, DEFAULT_BUDGET_MB * MIB)

    assert {artifact.name for artifact in artifacts} == {"PredictFunction", "ModelLayer"}
    assert fits, text
    # ...and the check can fail: the same build against a budget it exceeds.
    text, fits = report(artifacts, 100 * MIB)
    assert not fits and "exceed the 100.0 MB budget" in text


def test_sizes_cli_fails_the_build_over_budget(x86_build: SamBuild) -> None:
    over = subprocess.run(
        [sys.executable, "-m", "deploy.sizes", str(x86_build.build_dir), "--budget-mb", "50"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )

    assert over.returncode == 1
    assert "ModelLayer" in over.stdout and "PredictFunction" in over.stdout and "OVER BUDGET" in over.stdout


def test_built_handler_answers_http_api_and_rest_events_under_lambda_python(
    x86_build: SamBuild, target_python: Path
) -> None:
    events = [
        load_event("http-api-predict.json"),
        load_event("rest-api-predict.json"),
        load_event("http-api-health.json"),
        load_event("rest-api-health.json"),
        load_event("http-api-model.json"),
    ]

    output = run_built_handler(x86_build, target_python, events)

    assert output["python"] == lambda_python_version()
    # The layer's byte code, not the dev venv, provides scikit-learn; the function's own packages come from the build.
    assert output["sklearn"][0] == "1.9.1"
    assert output["sklearn"][1] == str(x86_build.layer_dir / "python" / "sklearn" / "__init__.pyc")
    assert output["fastapi_file"].startswith(str(x86_build.function_dir))
    predict_v2, predict_v1, health_v2, health_v1, model_v2 = output["responses"]
    for response in (predict_v2, predict_v1):
        assert response["statusCode"] == 200, response
        assert json.loads(response["body"])["prediction"] == [0]  # 5.1,3.5,1.4,0.2 is a setosa
    manifest = json.loads((x86_build.layer_dir / "model" / "model.json").read_text())
    for response in (health_v2, health_v1):
        assert response["statusCode"] == 200, response
        assert json.loads(response["body"]) == {
            "status": "ok",
            "model_name": manifest["name"],
            "model_version": manifest["version"],
        }
    assert model_v2["statusCode"] == 200
    assert json.loads(model_v2["body"])["sha256"] == manifest["sha256"]


def test_built_handler_applies_the_configured_cors_origins(x86_build: SamBuild, target_python: Path) -> None:
    allowed = with_origin(load_event("http-api-predict.json"), "https://app.example.com")
    other = with_origin(load_event("http-api-predict.json"), "https://evil.example.net")

    output = run_built_handler(x86_build, target_python, [allowed, other], CORS_ALLOW_ORIGINS="https://app.example.com")

    allowed_response, other_response = output["responses"]
    assert allowed_response["headers"]["access-control-allow-origin"] == "https://app.example.com"
    assert "access-control-allow-origin" not in other_response["headers"]


def test_built_handler_reports_bad_input_in_the_json_error_shape(x86_build: SamBuild, target_python: Path) -> None:
    event = load_event("http-api-predict.json")
    event["body"] = base64.b64encode(b'{"features":[1.0,2.0]}').decode()

    output = run_built_handler(x86_build, target_python, [event])

    response = output["responses"][0]
    assert 400 <= response["statusCode"] < 500
    body = json.loads(response["body"])
    assert set(body) >= {"error", "detail", "request_id"}
    assert body["request_id"] == "test-request-id"


def test_arm64_layer_contains_aarch64_wheels_of_the_pinned_stack(arm64_layer_build: SamBuild) -> None:
    layer = arm64_layer_build.layer_dir
    site = layer / "python"
    installed = installed_distributions(site)

    assert "--platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64" in arm64_layer_build.log
    assert not arm64_layer_build.function_dir.exists(), "only the layer was asked for"
    for name, version in pinned_requirements(REPO_ROOT / "layers" / "model" / "requirements.txt").items():
        assert installed[name][0] == version, name
    for name in ("numpy", "scipy", "scikit-learn"):
        assert "aarch64" in installed[name][1] and "x86_64" not in installed[name][1], installed[name]
    shared_objects = [path for path in site.rglob("*.so*") if path.is_file()]
    assert shared_objects
    assert {elf_machine(path) for path in shared_objects} == {ELF_MACHINE["aarch64"]}
    assert not list(site.rglob("*x86_64*.so"))
    assert sorted(path.name for path in (layer / "model").iterdir()) == ["model.joblib", "model.json"]


# Issue 8's target for function + ONNX layer, unzipped (the scikit-learn stack alone is about 150 MB).
ONNX_TOTAL_TARGET_MB = 90


def test_onnx_layer_carries_onnxruntime_and_numpy_only(onnx_layer_build: SamBuild, onnx_model_dir: Path) -> None:
    layer = onnx_layer_build.layer_dir
    installed = installed_distributions(layer / "python")

    assert set(installed) == {"onnxruntime", "numpy"}, sorted(installed)
    for name, version in pinned_requirements(REPO_ROOT / "layers" / "model" / "requirements-onnx.txt").items():
        assert installed[name][0] == version, name
        assert "cp313" in installed[name][1] and "x86_64" in installed[name][1], installed[name]
    # No pickle ships with the ONNX runtime: the graph and the manifest only, byte for byte what was packaged.
    assert sorted(path.name for path in (layer / "model").iterdir()) == ["model.json", "model.onnx"]
    for name in ("model.json", "model.onnx"):
        assert (layer / "model" / name).read_bytes() == (onnx_model_dir / name).read_bytes()
    # Slimmed: onnxruntime's tooling and C API library, numpy's test modules.
    site = layer / "python"
    assert not (site / "onnxruntime" / "transformers").exists() and not (site / "onnxruntime" / "tools").exists()
    assert not list((site / "onnxruntime" / "capi").glob("libonnxruntime.so*"))
    assert not list((site / "numpy" / "_core").glob("_simd.*.so"))
    assert "model layer: runtime onnx" in onnx_layer_build.log


def test_built_handler_serves_the_onnx_layer_without_scikit_learn(
    x86_build: SamBuild, onnx_layer_build: SamBuild, target_python: Path
) -> None:
    """The same built function on the ONNX layer: the runtime comes from the manifest, onnxruntime from the layer,
    and neither scikit-learn nor scipy is imported (they are not even there)."""
    events = [
        load_event("http-api-predict.json"),
        load_event("rest-api-predict.json"),
        load_event("http-api-model.json"),
    ]

    output = run_built_handler(x86_build, target_python, events, layer_dir=onnx_layer_build.layer_dir)

    assert output["sklearn"] is None and not output["scipy_loaded"]
    assert output["onnxruntime"][1] == str(onnx_layer_build.layer_dir / "python" / "onnxruntime" / "__init__.pyc")
    predict_v2, predict_v1, model_v2 = output["responses"]
    for response in (predict_v2, predict_v1):
        assert response["statusCode"] == 200, response
        assert json.loads(response["body"])["prediction"] == [0]
    assert json.loads(model_v2["body"])["runtime"] == "onnx"


def test_function_and_onnx_layer_fit_the_onnx_target(x86_build: SamBuild, onnx_layer_build: SamBuild) -> None:
    function_bytes = tree_bytes(x86_build.function_dir)[0]
    layer_bytes = tree_bytes(onnx_layer_build.layer_dir)[0]

    total_mb = (function_bytes + layer_bytes) / MIB
    assert total_mb <= ONNX_TOTAL_TARGET_MB, f"function + ONNX layer = {total_mb:.1f} MB"


def test_sizes_report_names_the_runtime_and_compares_the_other(x86_build: SamBuild, onnx_layer_build: SamBuild) -> None:
    """What `make build` prints: the built runtime, and function + the other runtime's layer libraries."""
    compare = onnx_layer_build.layer_dir / "python"
    result = subprocess.run(
        [sys.executable, "-m", "deploy.sizes", str(x86_build.build_dir), "--compare", f"onnx={compare}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "model runtime: sklearn" in result.stdout
    expected = (tree_bytes(x86_build.function_dir)[0] + tree_bytes(compare)[0]) / MIB
    assert f"with the onnx runtime instead: layer libraries {tree_bytes(compare)[0] / MIB:.1f} MB" in result.stdout
    assert f"function + layer {expected:.1f} MB" in result.stdout
