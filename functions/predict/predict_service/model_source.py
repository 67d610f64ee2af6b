"""Optional model source: a model directory in S3 (MODEL_S3_URI), for models too large for the model layer.

A model directory is model.json plus the one model file it names: model.joblib (a pickle), model.skops or
model.onnx. Once per cold start the function downloads to local disk (Lambda: /tmp):

1. model.json, which is data, not code: it is validated as a manifest and tells which model file ships and which
   sha256 it records for it (`sha256` for model.joblib and model.skops, `onnx.sha256` for model.onnx). A manifest
   recording another sha256 than MODEL_SHA256 is refused before the model file is downloaded at all.
2. that model file, checked against MODEL_SHA256 *before* it is moved into place: unpickling runs arbitrary code,
   so a file that is not byte-for-byte the configured one must never reach joblib.load (nor skops or onnxruntime).

MODEL_SHA256 therefore pins the model file, whichever kind it is. The runtime that loads the directory afterwards
checks the file against model.json once more, as it does for a model from the layer.
"""

from __future__ import annotations

import math
import os
import re
import shutil
from pathlib import Path
from typing import Any

from .errors import ModelLoadError
from .manifest import MANIFEST_FILENAME, ModelManifest, file_sha256, manifest_problems
from .runtimes import MODEL_FILES, RUNTIMES

MIB = 1024 * 1024
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
# MODEL_FILES: every file a model directory may ship besides model.json (every runtime's); exactly one of them,
# named by model.json, is fetched.
_ANY_MODEL_FILE = f"{', '.join(MODEL_FILES[:-1])} or {MODEL_FILES[-1]}"


def _which_sha256() -> str:
    """Where model.json records the sha256 of each kind of model file (`sha256` for model.joblib ...)."""
    fields: dict[str, list[str]] = {}
    for spec in RUNTIMES.values():
        field = f"{spec.section}.sha256" if spec.section else "sha256"
        fields.setdefault(field, []).extend(spec.model_files)
    return "model.json's " + ", its ".join(f"{field} for {' or '.join(files)}" for field, files in fields.items())


def parse_s3_uri(s3_uri: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix/` -> ("bucket", "some/prefix"); the prefix may be empty."""
    if not s3_uri.startswith("s3://"):
        raise ModelLoadError.s3_uri_invalid(s3_uri, f"must look like s3://bucket/prefix, not {s3_uri!r}")
    bucket, _, prefix = s3_uri.removeprefix("s3://").partition("/")
    if not bucket:
        raise ModelLoadError.s3_uri_invalid(s3_uri, f"{s3_uri!r} has no bucket name")
    return bucket, prefix.strip("/")


def object_key(prefix: str, filename: str) -> str:
    return f"{prefix}/{filename}" if prefix else filename


def fetch_model_dir(s3_uri: str, expected_sha256: str, dest: Path) -> Path:
    """Download model.json and the model file it names from `s3_uri` into `dest` and return `dest`.

    `expected_sha256` (MODEL_SHA256) is the sha256 of that model file. The file is verified against it before it is
    moved into place; on a mismatch nothing new is left in `dest` and ModelLoadError says which hashes differ. A
    verified copy already in `dest` (a re-initialised sandbox keeps /tmp) is reused without downloading again.
    """
    expected = expected_sha256.strip().lower()
    if not _SHA256_HEX.match(expected):
        raise ModelLoadError.s3_sha256_malformed(expected_sha256, _which_sha256())
    bucket, prefix = parse_s3_uri(s3_uri)
    if _verified_copy(dest, expected):
        return dest

    dest.mkdir(parents=True, exist_ok=True)
    _remove_partial_files(dest)
    # boto3 is in the Lambda runtime but not in the function package, and only this optional path needs it.
    import boto3

    s3 = boto3.client("s3")
    partial_manifest = dest / f".{MANIFEST_FILENAME}.part"
    partial_model: Path | None = None
    try:
        manifest_key = object_key(prefix, MANIFEST_FILENAME)
        _download(s3, bucket, manifest_key, partial_manifest, model_file=None)
        manifest = _read_manifest(partial_manifest, s3_uri, f"s3://{bucket}/{manifest_key}")
        model_file, recorded, field = manifest.shipped_file()
        if recorded != expected:
            # The runtime would refuse this pair anyway (the file must match both); saying so now spares downloading
            # a large file and names the actual mistake: MODEL_SHA256 and the uploaded model do not belong together.
            raise ModelLoadError.s3_manifest_disagrees(s3_uri, MANIFEST_FILENAME, model_file, field, recorded, expected)
        _make_room(dest, s3_uri, model_file, manifest.model_bytes)
        partial_model = dest / f".{model_file}.part"
        _download(s3, bucket, object_key(prefix, model_file), partial_model, model_file=model_file)
        actual = file_sha256(partial_model)
        if actual != expected:
            raise ModelLoadError.s3_download_mismatch(s3_uri, MANIFEST_FILENAME, model_file, field, actual, expected)
        # Renames within one directory are atomic: a crash mid-download never leaves a half file under a real name.
        # The manifest goes first, so a crash between the two renames leaves a model file that does not match it,
        # which the next init downloads again.
        os.replace(partial_manifest, dest / MANIFEST_FILENAME)
        os.replace(partial_model, dest / model_file)
    finally:
        partial_manifest.unlink(missing_ok=True)
        if partial_model is not None:
            partial_model.unlink(missing_ok=True)
    return dest


def _verified_copy(dest: Path, expected: str) -> bool:
    """Whether `dest` already holds a manifest recording `expected` for its model file, and that exact file."""
    manifest_path = dest / MANIFEST_FILENAME
    if not manifest_path.is_file():
        return False
    try:
        manifest = ModelManifest.model_validate_json(manifest_path.read_bytes())
    except ValueError:
        return False  # a broken or foreign leftover: download again, which validates the manifest from S3
    model_file, recorded, _ = manifest.shipped_file()
    model_path = dest / model_file
    return recorded == expected and model_path.is_file() and file_sha256(model_path) == expected


def _make_room(dest: Path, s3_uri: str, model_file: str, model_bytes: int | None) -> None:
    """Clear the model files of an earlier model out of `dest` (the copy there is not the configured one, or it would
    have been reused), then check that the manifest's `model_bytes` fit in what is free: a download that fills
    Lambda's /tmp fails halfway with an error that does not say the storage is too small."""
    for name in MODEL_FILES:
        (dest / name).unlink(missing_ok=True)
    if model_bytes is None:
        return  # a manifest packaged before model_bytes was recorded: the download itself will tell
    usage = shutil.disk_usage(dest)
    if model_bytes <= usage.free:
        return
    needed_mb = math.ceil((usage.total - usage.free + model_bytes) / MIB)
    raise ModelLoadError(
        f"{model_file} at {s3_uri} is {model_bytes / MIB:.0f} MB but MODEL_CACHE_DIR ({dest}) has only "
        f"{usage.free / MIB:.0f} MB free of {usage.total / MIB:.0f} MB: raise the template's EphemeralStorageMB "
        f"parameter (Lambda's /tmp, 512 MB unless raised, at most 10240) to at least {needed_mb}",
        {
            "model_s3_uri": s3_uri,
            "model_file": model_file,
            "model_bytes": model_bytes,
            "model_cache_dir": str(dest),
            "free_bytes": usage.free,
            "total_bytes": usage.total,
            "needed_mb": needed_mb,
        },
    )


def _remove_partial_files(dest: Path) -> None:
    """Leftovers of an init that was killed mid-download (ours, and the temporary files boto3 downloads into):
    a sandbox that re-initialises keeps /tmp, and repeated half downloads of a large model would fill it."""
    for name in (MANIFEST_FILENAME, *MODEL_FILES):
        for leftover in dest.glob(f".{name}.part*"):
            leftover.unlink(missing_ok=True)


def _read_manifest(path: Path, s3_uri: str, source: str) -> ModelManifest:
    try:
        return ModelManifest.model_validate_json(path.read_bytes())
    except ValueError as error:
        raise ModelLoadError.s3_manifest_invalid(s3_uri, source, manifest_problems(error), MANIFEST_FILENAME) from error


def _download(s3: Any, bucket: str, key: str, target: Path, model_file: str | None) -> None:
    """`model_file`: the model file being fetched; None while fetching model.json, before it names one."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        s3.download_file(bucket, key, str(target))
    except (ClientError, BotoCoreError) as error:
        code = str(error.response.get("Error", {}).get("Code", "")) if isinstance(error, ClientError) else ""
        advice = _what_to_do(code, bucket, key, model_file)
        raise ModelLoadError.s3_download_failed(bucket, key, error, code, advice) from error


def _what_to_do(code: str, bucket: str, key: str, model_file: str | None) -> str:
    """The operator's next step for an S3 error `code` ("" when the request never got an answer from S3)."""
    folder = key.rpartition("/")[0]
    where = f"s3://{bucket}/{folder}/" if folder else f"s3://{bucket}/"
    check_uri = "MODEL_S3_URI (the template's ModelS3Uri parameter)"
    copy = f"`aws s3 cp --recursive MODEL_DIR {where}`"
    # Until model.json is read, the function may need any of the objects the template lets it read.
    needed = (MANIFEST_FILENAME, *MODEL_FILES) if model_file is None else (model_file,)
    arns = [f"arn:aws:s3:::{bucket}/{object_key(folder, name)}" for name in needed]
    objects = arns[0] if len(arns) == 1 else f"{', '.join(arns[:-1])} and {arns[-1]}"
    if model_file is None:
        upload = f"the model directory ({MANIFEST_FILENAME} and the model file it names: {_ANY_MODEL_FILE})"
    else:
        upload = f"{model_file} (the model file {MANIFEST_FILENAME} names)"
    if code == "NoSuchBucket":
        return (
            f"The bucket {bucket} does not exist: fix the bucket name in {check_uri}, or create the bucket in the "
            f"function's region and upload {upload} to {where}"
        )
    if code in {"404", "NoSuchKey", "NotFound"}:
        if model_file is not None:
            return (
                f"{MANIFEST_FILENAME} at {where} names {model_file}, which is not stored there: upload {model_file} "
                f"from the same model directory (for example {copy}), or replace {MANIFEST_FILENAME} with the one "
                f"packaged with the model file that is there"
            )
        # A HEAD request (how boto3 starts a download) gets a bare 404 for a missing bucket too.
        return (
            f"Nothing is stored there: upload {upload} to {where} (for example {copy}), or fix the bucket or prefix "
            f"in {check_uri}"
        )
    if code in {"403", "AccessDenied", "Forbidden"}:
        return (
            f"Give the function's role s3:GetObject on {objects} (the template grants "
            f"{'exactly these' if len(arns) > 1 else 'it'} when ModelS3Uri is set) and check that no bucket or KMS "
            f"key policy denies it. Without s3:ListBucket, S3 also answers 403 for an object that does not exist: "
            f"check that {upload} is at {where}"
        )
    return (
        f"Check that {check_uri} names an existing bucket in the function's region and the prefix holding {upload}, "
        f"that the function's role has s3:GetObject on {objects}, and that the function can reach S3 (a function in "
        f"a VPC needs an S3 gateway endpoint or a NAT gateway)"
    )
