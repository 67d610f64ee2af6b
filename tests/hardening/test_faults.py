"""End-to-end model faults: a broken model directory or S3 source must stop Lambda's init with exactly one clear JSON
log line saying what to do, and must leave `sklambda serve` running and answering 503 on /health instead of crashing.

tests/unit/test_runtime.py and tests/unit/test_model_source.py check the error messages of SklearnRuntime.load and
fetch_model_dir in-process, and tests/integration/test_cli.py serves a missing directory; here the real entry points
run in subprocesses (`import handler` as Lambda's init does, and `sklambda serve`) and what an operator sees is checked:
the process outcome, the log lines on stdout, and /health.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
import sklearn
from predict_service.manifest import MANIFEST_FILENAME, MODEL_FILENAME, ONNX_FILENAME

from sklambda.served import ServedApp
from tests.support.cli import run_cli
from tests.support.data import REPO_ROOT

FUNCTION_DIR = REPO_ROOT / "functions" / "predict"
BUCKET = "sklambda-faults"
PREFIX = "models/iris"
SHIPPED_FILE = {"joblib": MODEL_FILENAME, "onnx": ONNX_FILENAME}
# Set in every child so nothing from the developer's shell (a real MODEL_S3_URI, real AWS credentials) leaks in.
CLEAN_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "LOG_LEVEL": "INFO",
}
DROPPED_ENV = (
    "MODEL_DIR",
    "MODEL_S3_URI",
    "MODEL_SHA256",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_LAMBDA_FUNCTION_NAME",
)


def child_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in DROPPED_ENV}
    return {**env, **CLEAN_ENV, "PYTHONPATH": str(FUNCTION_DIR), **extra}


def edit_manifest(model_dir: Path, **changes: object) -> None:
    path = model_dir / MANIFEST_FILENAME
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest))


@dataclass(frozen=True)
class LocalFault:
    name: str
    damage: Callable[[Path], object]
    says: str  # the part of the log line that tells the operator what to do


LOCAL_FAULTS = [
    LocalFault("model directory missing", shutil.rmtree, "does not exist: run `sklambda train`"),
    LocalFault(
        "manifest missing",
        lambda d: (d / MANIFEST_FILENAME).unlink(),
        "build a model directory with `sklambda train` or `sklambda package MODEL.joblib`",
    ),
    LocalFault(
        "manifest corrupt",
        lambda d: (d / MANIFEST_FILENAME).write_text('{"name": "iris-demo", '),
        "re-create it with `sklambda package`",
    ),
    LocalFault(
        "model tampered (sha256 mismatch)",
        lambda d: (d / MODEL_FILENAME).write_bytes((d / MODEL_FILENAME).read_bytes() + b"tampered"),
        "re-package it with `sklambda package` if the change is yours",
    ),
    LocalFault(
        "scikit-learn version mismatch",
        lambda d: edit_manifest(
            d, versions={"python": "3.11.7", "scikit-learn": "1.5.2", "numpy": "2.0.0", "joblib": "1.4.2"}
        ),
        f"retrain or re-package it with scikit-learn {sklearn.__version__}, or pin scikit-learn==1.5.2",
    ),
]


def log_lines(stdout: str) -> list[dict[str, Any]]:
    """The service's stdout lines. Every line must be one JSON log record with a level (a request's line carries its
    EMF metrics in the same object), nothing else."""
    documents = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    assert all("level" in document for document in documents), documents
    return documents


def assert_one_clear_line(lines: list[dict[str, Any]], says: str, prefix: str = "model not loaded: ") -> dict[str, Any]:
    problems = [line for line in lines if line["level"] in {"WARNING", "ERROR", "CRITICAL"}]
    assert len(problems) == 1, problems
    line = problems[0]
    assert line["level"] == "CRITICAL" and line["service"] == "sklambda"
    assert line["message"].startswith(prefix), line
    assert says in line["message"], line["message"]
    assert not any(line["message"] == "model loaded" for line in lines)
    return line


def import_handler(env: dict[str, str], setup: str = "", *argv: str) -> subprocess.CompletedProcess[str]:
    """Lambda's init phase: a fresh interpreter imports handler.py. `setup` runs first in that interpreter (moto's
    in-process S3 for the S3 cases: moto's server mode needs flask-cors, which is not installed)."""
    code = f"{setup}\nimport handler\nprint('handler ready', flush=True)\n"
    return subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120, cwd=FUNCTION_DIR, env=env
    )


@pytest.fixture
def broken_model_dir(demo_model_dir: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    fault: LocalFault = request.param
    model_dir = tmp_path / "model"
    shutil.copytree(demo_model_dir, model_dir)
    fault.damage(model_dir)
    return model_dir


def local_params() -> list[Any]:
    return [pytest.param(fault, fault, id=fault.name) for fault in LOCAL_FAULTS]


@pytest.mark.parametrize(("broken_model_dir", "fault"), local_params(), indirect=["broken_model_dir"])
def test_lambda_init_fails_with_one_clear_line(broken_model_dir: Path, fault: LocalFault) -> None:
    result = import_handler(child_env(MODEL_DIR=str(broken_model_dir)))
    assert result.returncode != 0 and "handler ready" not in result.stdout
    # Lambda reports the init error from the exception; the operator's actionable line is the CRITICAL log line.
    assert "predict_service.errors.ModelLoadError" in result.stderr
    line = assert_one_clear_line(log_lines(result.stdout), fault.says)
    assert line["detail"]


@pytest.mark.parametrize(
    ("broken_model_dir", "fault"),
    # The missing directory is already served in tests/integration/test_cli.py; a model of other library versions
    # is refused before serving (below).
    [param for param in local_params() if param.id not in {"model directory missing", "scikit-learn version mismatch"}],
    indirect=["broken_model_dir"],
)
def test_serve_reports_not_ready_with_one_clear_line(broken_model_dir: Path, fault: LocalFault) -> None:
    server = ServedApp(broken_model_dir)
    try:
        health = server.wait_ready()
        predict = httpx.post(f"{server.url}/predict", json={"features": [1, 2, 3, 4]}, timeout=10)
        assert server.process.poll() is None  # still serving after refusing the model and answering
    finally:
        output = server.stop()
    assert health.status_code == 503
    assert health.json()["detail"] == {"reason": "ModelLoadError"}
    assert predict.status_code == 503 and predict.json()["error"].startswith("The model is not loaded")
    service_lines = [line for line in output.splitlines() if line.startswith("{")]
    assert_one_clear_line(log_lines("\n".join(service_lines)), fault.says)


def test_serve_refuses_a_model_of_other_library_versions_before_starting(demo_model_dir: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(demo_model_dir, model_dir)
    edit_manifest(
        model_dir, versions={"python": "3.11.7", "scikit-learn": "1.5.2", "numpy": "2.0.0", "joblib": "1.4.2"}
    )

    result = run_cli("serve", "--model-dir", str(model_dir), "--port", "0")

    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("sklambda serve: error: ")
    assert f"scikit-learn==1.5.2 ({sklearn.__version__} installed)" in line
    # The two ways out: the layer built from model.json behind local-api, or those versions installed here.
    assert f"make sam-build LAYER_MODEL_DIR={model_dir}" in line and "pip install" in line


# --- settings ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SettingsFault:
    name: str
    env: dict[str, str]
    says: list[str]  # one problem per bad variable, each naming it, its value and what it accepts


SETTINGS_FAULTS = [
    SettingsFault(
        "CORS wildcard",
        {"CORS_ALLOW_ORIGINS": "*"},
        [
            "CORS_ALLOW_ORIGINS='*' is not valid: CORS origin '*' must be an explicit http(s)://host[:port] origin, "
            "not a wildcard"
        ],
    ),
    SettingsFault(
        "zero batch rows",
        {"MAX_BATCH_ROWS": "0"},
        ["MAX_BATCH_ROWS='0' is not valid: Input should be greater than or equal to 1"],
    ),
    # The log level is itself invalid, so the line must still come out (at the default level).
    SettingsFault(
        "unknown log level",
        {"LOG_LEVEL": "LOUD"},
        ["LOG_LEVEL='LOUD' is not valid: LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, not 'LOUD'"],
    ),
    SettingsFault(
        "two bad settings",
        {"MAX_BATCH_ROWS": "many", "MAX_BODY_BYTES": "10"},
        [
            "MAX_BATCH_ROWS='many' is not valid: Input should be a valid integer",
            "MAX_BODY_BYTES='10' is not valid: Input should be greater than or equal to 1024",
        ],
    ),
]


@pytest.mark.parametrize("fault", SETTINGS_FAULTS, ids=[fault.name for fault in SETTINGS_FAULTS])
def test_lambda_init_with_invalid_settings_fails_with_one_clear_line(
    demo_model_dir: Path, fault: SettingsFault
) -> None:
    result = import_handler(child_env(MODEL_DIR=str(demo_model_dir), **fault.env))
    assert result.returncode != 0 and "handler ready" not in result.stdout
    # What Lambda reports as the init error: the exception's one-line message, not pydantic's multi-line report.
    error_line = result.stderr.strip().splitlines()[-1]
    assert error_line.startswith("predict_service.errors.InvalidSettingsError: ")
    assert "validation error" not in result.stderr and "pydantic" not in result.stderr, result.stderr
    line = assert_one_clear_line(log_lines(result.stdout), fault.says[0], prefix="settings not valid: ")
    for problem in fault.says:
        assert problem in line["message"] and problem in error_line
    assert [item["setting"] for item in line["detail"]] == list(fault.env)
    assert [item["value"] for item in line["detail"]] == list(fault.env.values())


# --- MODEL_S3_URI --------------------------------------------------------------------------------------------------

S3_SETUP = textwrap.dedent(
    """
    import json, sys
    from moto import mock_aws
    import boto3
    mock_aws().start()
    spec = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    s3 = boto3.client("s3", region_name="us-east-1")
    if spec.get("bucket"):
        s3.create_bucket(Bucket=spec["bucket"])
        for key, path in spec.get("objects", {}).items():
            s3.put_object(Bucket=spec["bucket"], Key=key, Body=open(path, "rb").read())
    if spec.get("deny"):
        # The function's role, played by an IAM user without any policy; from here on moto enforces IAM.
        import os
        from moto import settings
        iam = boto3.client("iam", region_name="us-east-1")
        iam.create_user(UserName="predict-function")
        key = iam.create_access_key(UserName="predict-function")["AccessKey"]
        os.environ.update(AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"])
        del os.environ["AWS_SESSION_TOKEN"]
        boto3.DEFAULT_SESSION = None
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    """
)


@dataclass(frozen=True)
class S3Fault:
    name: str
    bucket: str | None  # created in moto's S3 unless None
    upload: bool  # put the model directory's files under PREFIX (all of them, as `aws s3 cp --recursive` does)
    pin: Literal["unmatched", "shipped", "unset"]  # MODEL_SHA256: UNMATCHED_SHA256, the shipped file's, or none
    says: str  # what happened, as the log line words it; <shipped> stands for the shipped file's sha256
    to_do: str = ""  # and what the operator should do about it
    deny: bool = False  # the function's credentials have no S3 permission at all
    model: Literal["joblib", "onnx"] = "joblib"  # the demo model directory uploaded
    missing: str | None = None  # a file of that directory left out of S3
    changed: str | None = None  # a file of that directory whose bytes in S3 are CHANGED_BYTES instead


# A sha256 that no model's manifest records, so these cases are refused whatever is uploaded.
UNMATCHED_SHA256 = hashlib.sha256(b"no model has this hash").hexdigest()
CHANGED_BYTES = b"not the model file that was packaged"
WHERE = f"s3://{BUCKET}/{PREFIX}/"
ANY_MODEL_DIRECTORY = (
    "the model directory (model.json and the model file it names: model.joblib, model.skops or model.onnx)"
)

S3_FAULTS = [
    S3Fault(
        "bucket missing",
        None,
        False,
        "unmatched",
        f"Could not download {WHERE}model.json: An error occurred (NoSuchBucket)",
        f"The bucket {BUCKET} does not exist: fix the bucket name in MODEL_S3_URI (the template's ModelS3Uri "
        f"parameter), or create the bucket in the function's region and upload {ANY_MODEL_DIRECTORY} to {WHERE}",
    ),
    S3Fault(
        "key missing",
        BUCKET,
        False,
        "unmatched",
        f"Could not download {WHERE}model.json: An error occurred (404)",
        f"Nothing is stored there: upload {ANY_MODEL_DIRECTORY} to {WHERE} (for example "
        f"`aws s3 cp --recursive MODEL_DIR {WHERE}`), or fix the bucket or prefix in MODEL_S3_URI",
    ),
    S3Fault(
        "access denied",
        BUCKET,
        True,
        "unmatched",
        f"Could not download {WHERE}model.json: An error occurred (AccessDenied)",
        f"Give the function's role s3:GetObject on arn:aws:s3:::{BUCKET}/{PREFIX}/model.json, "
        f"arn:aws:s3:::{BUCKET}/{PREFIX}/model.joblib, arn:aws:s3:::{BUCKET}/{PREFIX}/model.skops and "
        f"arn:aws:s3:::{BUCKET}/{PREFIX}/model.onnx (the template grants exactly these when ModelS3Uri is set)",
        deny=True,
    ),
    S3Fault(
        "wrong sha256",
        BUCKET,
        True,
        "unmatched",
        f"its model.json records sha256 <shipped> for model.joblib, but MODEL_SHA256 is {UNMATCHED_SHA256}",
        "Upload the model directory MODEL_SHA256 was taken from, or set MODEL_SHA256 (the template's ModelSha256 "
        "parameter) to the sha256 in this model.json",
    ),
    S3Fault(
        "onnx model file missing",
        BUCKET,
        True,
        "shipped",
        # The directory's model.joblib is uploaded: model.json names model.onnx, so that is the one needed.
        f"Could not download {WHERE}model.onnx: An error occurred (404)",
        f"model.json at {WHERE} names model.onnx, which is not stored there: upload model.onnx from the same model "
        f"directory",
        model="onnx",
        missing="model.onnx",
    ),
    S3Fault(
        "onnx model file changed",
        BUCKET,
        True,
        "shipped",
        f"model.onnx has sha256 {hashlib.sha256(CHANGED_BYTES).hexdigest()}, but MODEL_SHA256 is <shipped>, as is "
        f"the onnx.sha256 in its model.json",
        "the model.onnx stored there is not the packaged one; upload it again",
        model="onnx",
        changed="model.onnx",
    ),
    S3Fault(
        "MODEL_SHA256 not set", BUCKET, True, "unset", "MODEL_S3_URI is set but MODEL_SHA256 is not: give the expected"
    ),
]


def s3_spec(fault: S3Fault, model_dir: Path, scratch: Path) -> str:
    objects = {}
    for path in sorted(model_dir.iterdir()):
        if fault.upload and path.name != fault.missing:
            if path.name == fault.changed:
                path = scratch / path.name
                path.write_bytes(CHANGED_BYTES)
            objects[f"{PREFIX}/{path.name}"] = str(path)
    return json.dumps({"bucket": fault.bucket, "objects": objects, "deny": fault.deny})


@pytest.mark.parametrize("fault", S3_FAULTS, ids=[fault.name for fault in S3_FAULTS])
def test_lambda_init_from_s3_fails_with_one_clear_line(
    request: pytest.FixtureRequest, tmp_path: Path, fault: S3Fault
) -> None:
    model_dir: Path = request.getfixturevalue("demo_onnx_model_dir" if fault.model == "onnx" else "demo_model_dir")
    shipped = hashlib.sha256((model_dir / SHIPPED_FILE[fault.model]).read_bytes()).hexdigest()
    # A cache of its own, so no copy verified by another test (or left in /tmp) can stand in for the download.
    env = child_env(MODEL_S3_URI=f"s3://{BUCKET}/{PREFIX}/", MODEL_CACHE_DIR=str(tmp_path / "cache"))
    if fault.pin != "unset":
        env["MODEL_SHA256"] = UNMATCHED_SHA256 if fault.pin == "unmatched" else shipped
    result = import_handler(env, S3_SETUP, s3_spec(fault, model_dir, tmp_path))
    assert result.returncode != 0 and "handler ready" not in result.stdout, result.stdout
    assert "predict_service.errors.ModelLoadError" in result.stderr
    line = assert_one_clear_line(log_lines(result.stdout), fault.says.replace("<shipped>", shipped))
    assert fault.to_do in line["message"]
    # Nothing that was refused is left where the runtime would load it from.
    assert not (tmp_path / "cache").exists() or list((tmp_path / "cache").iterdir()) == []


def test_serve_with_s3_source_but_no_sha256_reports_not_ready(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # No S3 call happens on this path (the check comes first), so no fake S3 is needed in the server process.
    for name, value in child_env(MODEL_S3_URI=f"s3://{BUCKET}/{PREFIX}/").items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MODEL_SHA256", raising=False)
    server = ServedApp(tmp_path / "unused")  # ServedApp passes --model-dir; MODEL_S3_URI takes precedence over it
    try:
        health = server.wait_ready()
    finally:
        output = server.stop()
    assert health.status_code == 503
    service_lines = [line for line in output.splitlines() if line.startswith("{")]
    assert_one_clear_line(log_lines("\n".join(service_lines)), "MODEL_S3_URI is set but MODEL_SHA256 is not")
