"""MODEL_S3_URI source: download from (moto) S3 into a local directory, verify before use, then load for real."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import moto
import numpy as np
import pytest
from moto import mock_aws
from predict_service.errors import ModelLoadError
from predict_service.model_source import fetch_model_dir, parse_s3_uri
from predict_service.runtime import ModelRuntime

BUCKET = "sklambda-models-test"


@pytest.fixture
def trained_model_dir(demo_model_dir: Path) -> Path:
    """The demo model from tests/conftest.py, trained by the same code as `sklambda train`."""
    return demo_model_dir


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


def upload_model_dir(s3: Any, model_dir: Path, prefix: str) -> None:
    for name in ("model.joblib", "model.json"):
        key = f"{prefix}/{name}" if prefix else name
        s3.put_object(Bucket=BUCKET, Key=key, Body=(model_dir / name).read_bytes())


def sha256_hex(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fetch_model_dir_downloads_verified_files_that_load_and_predict(
    s3: Any, trained_model_dir: Path, tmp_path: Path
) -> None:
    upload_model_dir(s3, trained_model_dir, "models/iris/v1")
    dest = tmp_path / "sklambda-model"

    fetched = fetch_model_dir(f"s3://{BUCKET}/models/iris/v1/", sha256_hex(trained_model_dir / "model.joblib"), dest)

    assert fetched == dest
    assert sorted(path.name for path in dest.iterdir()) == ["model.joblib", "model.json"]
    for name in ("model.joblib", "model.json"):
        assert (dest / name).read_bytes() == (trained_model_dir / name).read_bytes()
    runtime = ModelRuntime.load(fetched)
    setosa_row = np.array([[5.1, 3.5, 1.4, 0.2]])
    assert runtime.predict(setosa_row, with_probabilities=False).labels == [0]


def test_fetch_model_dir_accepts_a_bucket_root_and_uppercase_sha(
    s3: Any, trained_model_dir: Path, tmp_path: Path
) -> None:
    upload_model_dir(s3, trained_model_dir, "")

    fetch_model_dir(f"s3://{BUCKET}", sha256_hex(trained_model_dir / "model.joblib").upper(), tmp_path)

    assert (tmp_path / "model.joblib").read_bytes() == (trained_model_dir / "model.joblib").read_bytes()


def test_fetch_model_dir_refuses_a_model_whose_sha256_differs_and_leaves_nothing_behind(
    s3: Any, trained_model_dir: Path, tmp_path: Path
) -> None:
    upload_model_dir(s3, trained_model_dir, "m")
    s3.put_object(Bucket=BUCKET, Key="m/model.joblib", Body=b"not the model that was packaged")
    expected = sha256_hex(trained_model_dir / "model.joblib")

    with pytest.raises(ModelLoadError, match="sha256") as raised:
        fetch_model_dir(f"s3://{BUCKET}/m", expected, tmp_path)

    assert raised.value.detail["expected_sha256"] == expected
    assert raised.value.detail["actual_sha256"] == hashlib.sha256(b"not the model that was packaged").hexdigest()
    assert list(tmp_path.iterdir()) == []


def test_fetch_model_dir_names_the_missing_object_and_what_to_do(s3: Any, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError) as raised:
        fetch_model_dir(f"s3://{BUCKET}/absent", "0" * 64, tmp_path)

    message = raised.value.message
    assert message.startswith(f"Could not download s3://{BUCKET}/absent/model.joblib: An error occurred (404)")
    assert (
        f"Nothing is stored there: upload model.joblib and model.json to s3://{BUCKET}/absent/ (for example "
        f"`aws s3 cp --recursive MODEL_DIR s3://{BUCKET}/absent/`), or fix the bucket or prefix in MODEL_S3_URI "
        f"(the template's ModelS3Uri parameter)"
    ) in message
    assert raised.value.detail == {"bucket": BUCKET, "key": "absent/model.joblib", "error_code": "404"}


def test_fetch_model_dir_missing_bucket_says_what_to_do(s3: Any, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError) as raised:
        fetch_model_dir("s3://no-such-bucket-here/m", "0" * 64, tmp_path)

    assert "An error occurred (NoSuchBucket)" in raised.value.message
    assert (
        "The bucket no-such-bucket-here does not exist: fix the bucket name in MODEL_S3_URI (the template's "
        "ModelS3Uri parameter), or create the bucket in the function's region and upload model.joblib and "
        "model.json to s3://no-such-bucket-here/m/"
    ) in raised.value.message


def test_fetch_model_dir_access_denied_names_the_permission_to_grant(
    s3: Any, trained_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload_model_dir(s3, trained_model_dir, "private")
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
        fetch_model_dir(f"s3://{BUCKET}/private", sha256_hex(trained_model_dir / "model.joblib"), tmp_path)

    message = raised.value.message
    assert f"Could not download s3://{BUCKET}/private/model.joblib: An error occurred (AccessDenied)" in message
    assert (
        f"Give the function's role s3:GetObject on arn:aws:s3:::{BUCKET}/private/model.joblib and "
        f"arn:aws:s3:::{BUCKET}/private/model.json"
    ) in message
    assert "Without s3:ListBucket, S3 also answers 403 for an object that does not exist" in message
    assert list(tmp_path.iterdir()) == []


def test_fetch_model_dir_reuses_a_verified_local_copy_without_s3(
    s3: Any, trained_model_dir: Path, tmp_path: Path
) -> None:
    upload_model_dir(s3, trained_model_dir, "v1")
    expected = sha256_hex(trained_model_dir / "model.joblib")
    fetch_model_dir(f"s3://{BUCKET}/v1", expected, tmp_path)
    # The objects are gone, so a second fetch can only succeed from the copy already on disk.
    s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "v1/model.joblib"}, {"Key": "v1/model.json"}]})

    assert fetch_model_dir(f"s3://{BUCKET}/v1", expected, tmp_path) == tmp_path


def test_fetch_model_dir_downloads_again_when_the_local_copy_does_not_match(
    s3: Any, trained_model_dir: Path, tmp_path: Path
) -> None:
    upload_model_dir(s3, trained_model_dir, "v2")
    (tmp_path / "model.joblib").write_bytes(b"stale")
    (tmp_path / "model.json").write_text("{}")

    fetch_model_dir(f"s3://{BUCKET}/v2", sha256_hex(trained_model_dir / "model.joblib"), tmp_path)

    assert (tmp_path / "model.json").read_bytes() == (trained_model_dir / "model.json").read_bytes()


@pytest.mark.parametrize("bad_sha", ["", "abc", "g" * 64, "0" * 63])
def test_fetch_model_dir_rejects_a_malformed_expected_sha256(bad_sha: str, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="MODEL_SHA256"):
        fetch_model_dir("s3://bucket/prefix", bad_sha, tmp_path)


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
