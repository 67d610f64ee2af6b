"""Optional model source: a model directory in S3 (MODEL_S3_URI), for models too large for the model layer.

The files are downloaded to local disk (Lambda: /tmp) once per cold start and model.joblib is checked against the
sha256 given in configuration *before* anything unpickles it: unpickling runs arbitrary code, so a file that is not
byte-for-byte the expected one must never reach joblib.load.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

from .errors import ModelLoadError
from .manifest import MANIFEST_FILENAME, MODEL_FILENAME

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_HASH_CHUNK_BYTES = 1024 * 1024


def parse_s3_uri(s3_uri: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix/` -> ("bucket", "some/prefix"); the prefix may be empty."""
    if not s3_uri.startswith("s3://"):
        raise ModelLoadError(
            f"MODEL_S3_URI must look like s3://bucket/prefix, not {s3_uri!r}", {"model_s3_uri": s3_uri}
        )
    bucket, _, prefix = s3_uri.removeprefix("s3://").partition("/")
    if not bucket:
        raise ModelLoadError(f"MODEL_S3_URI {s3_uri!r} has no bucket name", {"model_s3_uri": s3_uri})
    return bucket, prefix.strip("/")


def object_key(prefix: str, filename: str) -> str:
    return f"{prefix}/{filename}" if prefix else filename


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_model_dir(s3_uri: str, expected_sha256: str, dest: Path) -> Path:
    """Download model.joblib and model.json from `s3_uri` into `dest` and return `dest`.

    model.joblib is verified against `expected_sha256` before it is moved into place; on a mismatch nothing is left
    in `dest` and ModelLoadError says which hashes differ. A verified copy already in `dest` (a re-initialised
    sandbox keeps /tmp) is reused without downloading again.
    """
    expected = expected_sha256.strip().lower()
    if not _SHA256_HEX.match(expected):
        raise ModelLoadError(
            "MODEL_SHA256 must be the 64-character hex sha256 of model.joblib (see its model.json)",
            {"model_sha256": expected_sha256},
        )
    bucket, prefix = parse_s3_uri(s3_uri)
    model_path = dest / MODEL_FILENAME
    manifest_path = dest / MANIFEST_FILENAME
    if model_path.is_file() and manifest_path.is_file() and sha256_of(model_path) == expected:
        return dest

    dest.mkdir(parents=True, exist_ok=True)
    # boto3 is in the Lambda runtime but not in the function package, and only this optional path needs it.
    import boto3

    s3 = boto3.client("s3")
    partial_model = dest / f".{MODEL_FILENAME}.part"
    partial_manifest = dest / f".{MANIFEST_FILENAME}.part"
    try:
        _download(s3, bucket, object_key(prefix, MODEL_FILENAME), partial_model)
        actual = sha256_of(partial_model)
        if actual != expected:
            raise ModelLoadError(
                f"Refusing the model from {s3_uri}: {MODEL_FILENAME} has sha256 {actual}, but MODEL_SHA256 is "
                f"{expected}. Upload the matching files or update MODEL_SHA256 (the sha256 in its model.json).",
                {"model_s3_uri": s3_uri, "expected_sha256": expected, "actual_sha256": actual},
            )
        _download(s3, bucket, object_key(prefix, MANIFEST_FILENAME), partial_manifest)
        # Renames within one directory are atomic: a crash mid-download never leaves a half file under the real name.
        os.replace(partial_manifest, manifest_path)
        os.replace(partial_model, model_path)
    finally:
        partial_model.unlink(missing_ok=True)
        partial_manifest.unlink(missing_ok=True)
    return dest


def _download(s3: Any, bucket: str, key: str, target: Path) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        s3.download_file(bucket, key, str(target))
    except (ClientError, BotoCoreError) as error:
        code = str(error.response.get("Error", {}).get("Code", "")) if isinstance(error, ClientError) else ""
        raise ModelLoadError(
            f"Could not download s3://{bucket}/{key}: {error}. {_what_to_do(code, bucket, key)}",
            {"bucket": bucket, "key": key, "error_code": code or type(error).__name__},
        ) from error


def _what_to_do(code: str, bucket: str, key: str) -> str:
    """The operator's next step for an S3 error `code` ("" when the request never got an answer from S3)."""
    folder = key.rpartition("/")[0]
    objects = " and ".join(
        f"arn:aws:s3:::{bucket}/{object_key(folder, name)}" for name in (MODEL_FILENAME, MANIFEST_FILENAME)
    )
    where = f"s3://{bucket}/{folder}/" if folder else f"s3://{bucket}/"
    check_uri = "MODEL_S3_URI (the template's ModelS3Uri parameter)"
    if code == "NoSuchBucket":
        return (
            f"The bucket {bucket} does not exist: fix the bucket name in {check_uri}, or create the bucket in the "
            f"function's region and upload {MODEL_FILENAME} and {MANIFEST_FILENAME} to {where}"
        )
    if code in {"404", "NoSuchKey", "NotFound"}:
        # A HEAD request (how boto3 starts a download) gets a bare 404 for a missing bucket too.
        return (
            f"Nothing is stored there: upload {MODEL_FILENAME} and {MANIFEST_FILENAME} to {where} (for example "
            f"`aws s3 cp --recursive MODEL_DIR {where}`), or fix the bucket or prefix in {check_uri}"
        )
    if code in {"403", "AccessDenied", "Forbidden"}:
        return (
            f"Give the function's role s3:GetObject on {objects} (the template grants exactly these when ModelS3Uri "
            f"is set) and check that no bucket or KMS key policy denies it. Without s3:ListBucket, S3 also answers "
            f"403 for an object that does not exist: check that both files are at {where}"
        )
    return (
        f"Check that {check_uri} names an existing bucket in the function's region and the prefix holding "
        f"{MODEL_FILENAME} and {MANIFEST_FILENAME}, that the function's role has s3:GetObject on {objects}, and that "
        f"the function can reach S3 (a function in a VPC needs an S3 gateway endpoint or a NAT gateway)"
    )
