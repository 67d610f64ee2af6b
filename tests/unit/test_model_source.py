"""MODEL_S3_URI source: download from (moto) S3 into a local directory, verify before use, then load for real.

Every model file kind is served: model.joblib, model.skops and model.onnx, each packaged by the project's own code.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import moto
import numpy as np
import pytest
from moto import mock_aws
from predict_service.config import Settings
from predict_service.errors import ModelLoadError
from predict_service.loading import load_model_dir, load_runtime
from predict_service.model_source import fetch_model_dir, parse_s3_uri

from sklambda.training import train_demo
from tests.support.data import REPO_ROOT

BUCKET = "sklambda-models-test"
SETOSA_ROW = np.array([[5.1, 3.5, 1.4, 0.2]])
ALL_OBJECTS = ("model.json", "model.joblib", "model.skops", "model.onnx")


@dataclass(frozen=True)
class ModelKind:
    name: str
    model_dir: Path
    model_file: str  # the file the directory ships, and the only one besides model.json to be fetched
    runtime_class: str  # what predict_service.loading picks for it from the manifest

    @property
    def sha256(self) -> str:
        """MODEL_SHA256 for this directory: the sha256 of the file that ships."""
        return sha256_hex(self.model_dir / self.model_file)

    @property
    def manifest_field(self) -> str:
        return "onnx.sha256" if self.name == "onnx" else "sha256"


@pytest.fixture(scope="module")
def demo_skops_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo model packaged as model.skops (`sklambda train --format skops`)."""
    model_dir = tmp_path_factory.mktemp("demo-skops") / "model"
    train_demo(model_dir, model_format="skops")
    return model_dir


KINDS = ["joblib", "skops", "onnx"]


def make_kind(request: pytest.FixtureRequest, name: str) -> ModelKind:
    if name == "onnx":
        return ModelKind(name, request.getfixturevalue("demo_onnx_model_dir"), "model.onnx", "OnnxRuntime")
    if name == "skops":
        return ModelKind(name, request.getfixturevalue("demo_skops_model_dir"), "model.skops", "SklearnRuntime")
    return ModelKind(name, request.getfixturevalue("demo_model_dir"), "model.joblib", "SklearnRuntime")


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> ModelKind:
    return make_kind(request, request.param)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # Fake credentials and a region so boto3 never looks for (or uses) real ones.
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def upload_model_dir(s3: Any, model_dir: Path, prefix: str, skip: tuple[str, ...] = ()) -> None:
    """Like `aws s3 cp --recursive MODEL_DIR`: every file, so an ONNX directory's model.joblib is uploaded too."""
    for path in sorted(model_dir.iterdir()):
        if path.name not in skip:
            key = f"{prefix}/{path.name}" if prefix else path.name
            s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())


def sha256_hex(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def names_in(directory: Path) -> list[str]:
    """Everything in `directory`, hidden partial files included."""
    return sorted(path.name for path in directory.iterdir()) if directory.exists() else []


def test_model_sha256_is_the_sha256_the_manifest_records_for_the_shipped_file(kind: ModelKind) -> None:
    # What the docs tell operators to copy into MODEL_SHA256; the other tests rely on it.
    manifest = json.loads((kind.model_dir / "model.json").read_text())
    recorded = manifest["onnx"]["sha256"] if kind.name == "onnx" else manifest["sha256"]
    assert recorded == kind.sha256


def test_fetches_each_model_kind_that_then_loads_through_the_loader_and_predicts(
    s3: Any, kind: ModelKind, tmp_path: Path
) -> None:
    upload_model_dir(s3, kind.model_dir, "models/iris/v1")
    dest = tmp_path / "sklambda-model"
    settings = Settings(model_s3_uri=f"s3://{BUCKET}/models/iris/v1/", model_sha256=kind.sha256, model_cache_dir=dest)

    runtime = load_runtime(settings)

    # Only model.json and the file it names: an ONNX directory's model.joblib (a pickle) is never fetched.
    assert names_in(dest) == sorted(["model.json", kind.model_file])
    for name in ("model.json", kind.model_file):
        assert (dest / name).read_bytes() == (kind.model_dir / name).read_bytes()
    assert type(runtime).__name__ == kind.runtime_class
    assert runtime.predict(SETOSA_ROW, with_probabilities=False).labels == [0]


def test_fetch_model_dir_accepts_a_bucket_root_and_uppercase_sha(s3: Any, demo_model_dir: Path, tmp_path: Path) -> None:
    upload_model_dir(s3, demo_model_dir, "")

    fetch_model_dir(f"s3://{BUCKET}", sha256_hex(demo_model_dir / "model.joblib").upper(), tmp_path)

    assert (tmp_path / "model.joblib").read_bytes() == (demo_model_dir / "model.joblib").read_bytes()


def test_a_wrong_model_sha256_is_refused_and_leaves_nothing_in_place(s3: Any, kind: ModelKind, tmp_path: Path) -> None:
    upload_model_dir(s3, kind.model_dir, "m")
    wrong = hashlib.sha256(b"another model").hexdigest()

    with pytest.raises(ModelLoadError) as raised:
        fetch_model_dir(f"s3://{BUCKET}/m", wrong, tmp_path)

    assert raised.value.message == (
        f"Refusing the model from s3://{BUCKET}/m: its model.json records {kind.manifest_field} {kind.sha256} for "
        f"{kind.model_file}, but MODEL_SHA256 is {wrong}. Upload the model directory MODEL_SHA256 was taken from, or "
        f"set MODEL_SHA256 (the template's ModelSha256 parameter) to the {kind.manifest_field} in this model.json"
    )
    assert raised.value.detail["manifest_sha256"] == kind.sha256
    assert names_in(tmp_path) == []


def test_a_wrong_model_sha256_is_refused_before_the_model_file_is_downloaded(
    s3: Any, demo_onnx_model_dir: Path, tmp_path: Path
) -> None:
    # Without model.onnx in S3, any attempt to download it would end in a 404 instead.
    upload_model_dir(s3, demo_onnx_model_dir, "m", skip=("model.onnx",))

    with pytest.raises(ModelLoadError, match=r"its model\.json records onnx\.sha256 "):
        fetch_model_dir(f"s3://{BUCKET}/m", "0" * 64, tmp_path)


def test_a_model_file_changed_in_s3_is_refused_and_leaves_nothing_in_place(
    s3: Any, kind: ModelKind, tmp_path: Path
) -> None:
    upload_model_dir(s3, kind.model_dir, "m")
    s3.put_object(Bucket=BUCKET, Key=f"m/{kind.model_file}", Body=b"not the model that was packaged")
    changed = hashlib.sha256(b"not the model that was packaged").hexdigest()

    with pytest.raises(ModelLoadError) as raised:
        fetch_model_dir(f"s3://{BUCKET}/m", kind.sha256, tmp_path)

    assert raised.value.message == (
        f"Refusing the model from s3://{BUCKET}/m: {kind.model_file} has sha256 {changed}, but MODEL_SHA256 is "
        f"{kind.sha256}, as is the {kind.manifest_field} in its model.json: the {kind.model_file} stored there is not "
        f"the packaged one; upload it again from the model directory its model.json came from"
    )
    assert raised.value.detail["expected_sha256"] == kind.sha256
    assert raised.value.detail["actual_sha256"] == changed
    assert names_in(tmp_path) == []


def test_a_model_file_named_by_the_manifest_but_missing_in_s3_says_what_to_do(
    s3: Any, kind: ModelKind, tmp_path: Path
) -> None:
    # An ONNX directory still uploads its model.joblib here: the manifest, not what happens to be there, decides.
    upload_model_dir(s3, kind.model_dir, "m", skip=(kind.model_file,))

    with pytest.raises(ModelLoadError) as raised:
        fetch_model_dir(f"s3://{BUCKET}/m", kind.sha256, tmp_path)

    message = raised.value.message
    assert message.startswith(f"Could not download s3://{BUCKET}/m/{kind.model_file}: An error occurred (404)")
    assert message.endswith(
        f"model.json at s3://{BUCKET}/m/ names {kind.model_file}, which is not stored there: upload "
        f"{kind.model_file} from the same model directory (for example `aws s3 cp --recursive MODEL_DIR "
        f"s3://{BUCKET}/m/`), or replace model.json with the one packaged with the model file that is there"
    )
    assert raised.value.detail == {"bucket": BUCKET, "key": f"m/{kind.model_file}", "error_code": "404"}
    assert names_in(tmp_path) == []


def test_fetch_model_dir_names_the_missing_model_directory_and_what_to_do(s3: Any, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError) as raised:
        fetch_model_dir(f"s3://{BUCKET}/absent", "0" * 64, tmp_path)

    message = raised.value.message
    assert message.startswith(f"Could not download s3://{BUCKET}/absent/model.json: An error occurred (404)")
    assert message.endswith(
        f"Nothing is stored there: upload the model directory (model.json and the model file it names: "
        f"model.joblib, model.skops or model.onnx) to s3://{BUCKET}/absent/ (for example `aws s3 cp --recursive "
        f"MODEL_DIR s3://{BUCKET}/absent/`), or fix the bucket or prefix in MODEL_S3_URI (the template's "
        f"ModelS3Uri parameter)"
    )
    assert raised.value.detail == {"bucket": BUCKET, "key": "absent/model.json", "error_code": "404"}


def test_fetch_model_dir_missing_bucket_says_what_to_do(s3: Any, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError) as raised:
        fetch_model_dir("s3://no-such-bucket-here/m", "0" * 64, tmp_path)

    assert "An error occurred (NoSuchBucket)" in raised.value.message
    assert raised.value.message.endswith(
        "The bucket no-such-bucket-here does not exist: fix the bucket name in MODEL_S3_URI (the template's "
        "ModelS3Uri parameter), or create the bucket in the function's region and upload the model directory "
        "(model.json and the model file it names: model.joblib, model.skops or model.onnx) to "
        "s3://no-such-bucket-here/m/"
    )


def test_fetch_model_dir_access_denied_names_the_permission_to_grant(
    s3: Any, demo_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload_model_dir(s3, demo_model_dir, "private")
    # The function's role, played by an IAM user with no policy at all; moto then enforces IAM like S3 does.
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_user(UserName="predict-function")
    key = iam.create_access_key(UserName="predict-function")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # forget the credentials the fixture's client resolved
    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)

    with pytest.raises(ModelLoadError) as raised:
        fetch_model_dir(f"s3://{BUCKET}/private", sha256_hex(demo_model_dir / "model.joblib"), tmp_path)

    message = raised.value.message
    assert f"Could not download s3://{BUCKET}/private/model.json: An error occurred (AccessDenied)" in message
    # The objects the template's read-model-from-s3 policy grants, as tests/deploy/test_translate.py checks.
    arns = [f"arn:aws:s3:::{BUCKET}/private/{name}" for name in ALL_OBJECTS]
    assert (
        f"Give the function's role s3:GetObject on {arns[0]}, {arns[1]}, {arns[2]} and {arns[3]} (the template "
        f"grants exactly these when ModelS3Uri is set)"
    ) in message
    assert "Without s3:ListBucket, S3 also answers 403 for an object that does not exist" in message
    assert names_in(tmp_path) == []


@pytest.mark.parametrize(
    ("manifest", "says"),
    [
        (b"{not json", "Invalid JSON"),
        # Valid JSON, but runtime onnx without the onnx section that records model.onnx's sha256.
        (None, "the onnx section is required for, and only for, runtime 'onnx'"),
    ],
    ids=["not JSON", "inconsistent"],
)
def test_a_manifest_that_is_not_valid_is_refused_in_one_line(
    s3: Any, demo_onnx_model_dir: Path, tmp_path: Path, manifest: bytes | None, says: str
) -> None:
    upload_model_dir(s3, demo_onnx_model_dir, "m")
    if manifest is None:
        document = json.loads((demo_onnx_model_dir / "model.json").read_text())
        del document["onnx"]
        manifest = json.dumps(document).encode()
    s3.put_object(Bucket=BUCKET, Key="m/model.json", Body=manifest)

    with pytest.raises(ModelLoadError) as raised:
        fetch_model_dir(f"s3://{BUCKET}/m", sha256_hex(demo_onnx_model_dir / "model.onnx"), tmp_path)

    message = raised.value.message
    assert message.startswith(
        f"Refusing the model from s3://{BUCKET}/m: s3://{BUCKET}/m/model.json is not a valid sklambda manifest ("
    )
    assert says in message and "\n" not in message
    assert message.endswith(
        "upload the model directory that `sklambda package` or `sklambda train` wrote, model.json and model file "
        "together"
    )
    assert names_in(tmp_path) == []


def test_fetch_model_dir_reuses_a_verified_local_copy_without_s3(s3: Any, kind: ModelKind, tmp_path: Path) -> None:
    upload_model_dir(s3, kind.model_dir, "v1")
    fetch_model_dir(f"s3://{BUCKET}/v1", kind.sha256, tmp_path)
    # The objects are gone, so a second fetch can only succeed from the copy already on disk.
    s3.delete_objects(
        Bucket=BUCKET, Delete={"Objects": [{"Key": f"v1/{path.name}"} for path in kind.model_dir.iterdir()]}
    )

    assert fetch_model_dir(f"s3://{BUCKET}/v1", kind.sha256, tmp_path) == tmp_path
    assert type(load_model_dir(tmp_path)).__name__ == kind.runtime_class


def test_reusing_a_verified_local_copy_does_not_import_boto3(demo_onnx_model_dir: Path, tmp_path: Path) -> None:
    # boto3 is not in the function package and costs cold start: only an actual download may import it.
    dest = tmp_path / "copy"
    dest.mkdir()
    for name in ("model.json", "model.onnx"):
        (dest / name).write_bytes((demo_onnx_model_dir / name).read_bytes())
    code = (
        "import sys; from pathlib import Path; from predict_service.model_source import fetch_model_dir; "
        f"fetch_model_dir('s3://{BUCKET}/v1', sys.argv[1], Path(sys.argv[2])); "
        "print('boto3' in sys.modules, 'botocore' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "functions" / "predict")}
    result = subprocess.run(
        [sys.executable, "-c", code, sha256_hex(demo_onnx_model_dir / "model.onnx"), str(dest)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=True,
    )
    assert result.stdout.split() == ["False", "False"]


def test_fetch_model_dir_downloads_again_when_the_local_copy_does_not_match(
    s3: Any, kind: ModelKind, tmp_path: Path
) -> None:
    upload_model_dir(s3, kind.model_dir, "v2")
    (tmp_path / kind.model_file).write_bytes(b"stale")
    (tmp_path / "model.json").write_text("{}")

    fetch_model_dir(f"s3://{BUCKET}/v2", kind.sha256, tmp_path)

    for name in ("model.json", kind.model_file):
        assert (tmp_path / name).read_bytes() == (kind.model_dir / name).read_bytes()


def test_fetch_model_dir_downloads_again_when_the_local_manifest_does_not_describe_the_local_file(
    s3: Any, demo_onnx_model_dir: Path, tmp_path: Path
) -> None:
    # The right model.onnx next to a model.json recording another onnx.sha256 (as an interrupted re-fetch can
    # leave): reusing it would only make the runtime refuse the pair, so the directory is fetched again.
    upload_model_dir(s3, demo_onnx_model_dir, "v5")
    (tmp_path / "model.onnx").write_bytes((demo_onnx_model_dir / "model.onnx").read_bytes())
    manifest = json.loads((demo_onnx_model_dir / "model.json").read_text())
    manifest["onnx"]["sha256"] = "0" * 64
    (tmp_path / "model.json").write_text(json.dumps(manifest))

    fetch_model_dir(f"s3://{BUCKET}/v5", sha256_hex(demo_onnx_model_dir / "model.onnx"), tmp_path)

    assert (tmp_path / "model.json").read_bytes() == (demo_onnx_model_dir / "model.json").read_bytes()
    assert type(load_model_dir(tmp_path)).__name__ == "OnnxRuntime"


def test_a_model_of_another_kind_replaces_the_cached_one_entirely(
    s3: Any, demo_model_dir: Path, demo_onnx_model_dir: Path, tmp_path: Path
) -> None:
    upload_model_dir(s3, demo_model_dir, "joblib")
    upload_model_dir(s3, demo_onnx_model_dir, "onnx")
    fetch_model_dir(f"s3://{BUCKET}/joblib", sha256_hex(demo_model_dir / "model.joblib"), tmp_path)

    fetch_model_dir(f"s3://{BUCKET}/onnx", sha256_hex(demo_onnx_model_dir / "model.onnx"), tmp_path)

    # The earlier model.joblib (a pickle) does not linger next to a model that never needs it.
    assert names_in(tmp_path) == ["model.json", "model.onnx"]
    assert type(load_model_dir(tmp_path)).__name__ == "OnnxRuntime"


def test_partial_files_left_by_an_interrupted_download_are_removed(
    s3: Any, demo_skops_model_dir: Path, tmp_path: Path
) -> None:
    upload_model_dir(s3, demo_skops_model_dir, "v3")
    # Ours, and the temporary names boto3 downloads into (target + "." + random suffix), as a killed init leaves them.
    for leftover in (".model.json.part", ".model.skops.part.a1B2c3D4", ".model.onnx.part"):
        (tmp_path / leftover).write_bytes(b"half a download")

    fetch_model_dir(f"s3://{BUCKET}/v3", sha256_hex(demo_skops_model_dir / "model.skops"), tmp_path)

    assert names_in(tmp_path) == ["model.json", "model.skops"]


def test_the_runtime_still_verifies_the_fetched_file_against_its_manifest(
    s3: Any, kind: ModelKind, tmp_path: Path
) -> None:
    # The download check pins the file to MODEL_SHA256; the runtime's own check (file against model.json) must
    # still run on what was fetched, as it does for a model from the layer.
    upload_model_dir(s3, kind.model_dir, "v4")
    fetch_model_dir(f"s3://{BUCKET}/v4", kind.sha256, tmp_path)
    (tmp_path / kind.model_file).write_bytes(b"swapped after the download")

    with pytest.raises(ModelLoadError, match=rf"^Refusing to \w+ .*{kind.model_file}: its sha256 [0-9a-f]{{64}} does"):
        load_model_dir(tmp_path)


@pytest.mark.parametrize("bad_sha", ["", "abc", "g" * 64, "0" * 63])
def test_fetch_model_dir_rejects_a_malformed_expected_sha256(bad_sha: str, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError) as raised:
        fetch_model_dir("s3://bucket/prefix", bad_sha, tmp_path)

    assert raised.value.message == (
        "MODEL_SHA256 must be the 64-character hex sha256 of the model file that ships (model.json's sha256 for "
        "model.joblib or model.skops, its onnx.sha256 for model.onnx)"
    )


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket/a/b/", ("bucket", "a/b")),
        ("s3://bucket/a", ("bucket", "a")),
        ("s3://bucket", ("bucket", "")),
        ("s3://bucket/", ("bucket", "")),
    ],
)
def test_parse_s3_uri_splits_bucket_and_prefix(uri: str, expected: tuple[str, str]) -> None:
    assert parse_s3_uri(uri) == expected


@pytest.mark.parametrize("uri", ["https://bucket/a", "bucket/a", "s3://", "s3:///a"])
def test_parse_s3_uri_rejects_non_s3_uris(uri: str) -> None:
    with pytest.raises(ModelLoadError, match="MODEL_S3_URI"):
        parse_s3_uri(uri)


def test_model_larger_than_the_free_cache_space_is_refused_before_downloading(
    s3: Any, demo_model_dir: Path, tmp_path: Path
) -> None:
    # A manifest recording more bytes than any disk here has free: the check must refuse it without downloading.
    manifest = json.loads((demo_model_dir / "model.json").read_text())
    manifest["model_bytes"] = 2**60
    s3.put_object(Bucket=BUCKET, Key="big/model.json", Body=json.dumps(manifest).encode())
    s3.put_object(Bucket=BUCKET, Key="big/model.joblib", Body=(demo_model_dir / "model.joblib").read_bytes())
    dest = tmp_path / "cache"

    with pytest.raises(ModelLoadError) as raised:
        fetch_model_dir(f"s3://{BUCKET}/big", manifest["sha256"], dest)

    message = raised.value.message
    assert message.startswith(f"model.joblib at s3://{BUCKET}/big is {2**60 // 2**20} MB but MODEL_CACHE_DIR ({dest})")
    assert "raise the template's EphemeralStorageMB parameter" in message
    detail = raised.value.detail
    assert (
        detail["model_bytes"] == 2**60
        and detail["needed_mb"] * 2**20 >= 2**60 + detail["total_bytes"] - detail["free_bytes"]
    )
    assert names_in(dest) == []


def test_model_that_fits_the_free_cache_space_is_fetched(s3: Any, demo_model_dir: Path, tmp_path: Path) -> None:
    manifest = json.loads((demo_model_dir / "model.json").read_text())
    assert manifest["model_bytes"] == (demo_model_dir / "model.joblib").stat().st_size
    upload_model_dir(s3, demo_model_dir, "fits")

    dest = fetch_model_dir(f"s3://{BUCKET}/fits", manifest["sha256"], tmp_path / "cache")

    assert names_in(dest) == ["model.joblib", "model.json"]
