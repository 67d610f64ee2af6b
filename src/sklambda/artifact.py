"""Writes a model directory (model.joblib + model.json) and proves it loads before calling it done."""

from __future__ import annotations

import platform
import shutil
import tempfile
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import joblib
import numpy as np
import sklearn
from predict_service.errors import ModelLoadError
from predict_service.manifest import (
    MODEL_FILENAME,
    ONNX_FILENAME,
    FeatureSpec,
    LibraryVersions,
    ModelManifest,
    file_sha256,
    write_manifest,
)
from predict_service.runtime import ModelRuntime


class PackagingError(Exception):
    """Raise when a model cannot become a servable model directory; the message says what to do."""


def describe_estimator(model: Any) -> str:
    steps = getattr(model, "steps", None)
    if steps:
        return f"Pipeline({', '.join(type(step).__name__ for _, step in steps)})"
    return type(model).__name__


def has_working_predict_proba(model: Any, example: list[Any]) -> bool:
    """hasattr alone is not enough: SVC(probability=False) has the attribute and raises when called."""
    if not hasattr(model, "predict_proba"):
        return False
    row = np.array([example], dtype=object if any(isinstance(value, str) for value in example) else np.float64)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.predict_proba(row)
    except Exception:
        return False
    return True


def library_versions() -> LibraryVersions:
    return LibraryVersions.model_validate(
        {
            "python": platform.python_version(),
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "joblib": joblib.__version__,
        }
    )


def write_model_dir(
    model: Any,
    model_dir: Path,
    *,
    name: str,
    version: str | None,
    features: list[FeatureSpec],
    example: list[Any],
    class_names: list[str] | None = None,
    metrics: dict[str, float] | None = None,
    source_file: Path | None = None,
    runtime: Literal["sklearn", "onnx"] = "sklearn",
) -> ModelManifest:
    """Stage the directory next to its destination, verify it with the real runtime, then swap it in, so a
    failed packaging never leaves a half-written model where the server or the layer build would find it."""
    if not callable(getattr(model, "predict", None)):
        raise PackagingError(f"{describe_estimator(model)} has no predict method: it is not a fitted estimator")
    classes = getattr(model, "classes_", None)
    task: Literal["classification", "regression"] = "classification" if classes is not None else "regression"
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=model_dir.parent))
    try:
        model_path = staging / MODEL_FILENAME
        if source_file is not None:
            # Copy the user's bytes as they are: the sha256 in the manifest is then the file they handed over.
            shutil.copyfile(source_file, model_path)
        else:
            joblib.dump(model, model_path)
        sha256 = file_sha256(model_path)
        try:
            manifest = ModelManifest(
                name=name,
                version=version or sha256[:12],
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                sha256=sha256,
                estimator=describe_estimator(model),
                task=task,
                features=features,
                classes=np.asarray(classes).tolist() if classes is not None else None,
                class_names=class_names,
                has_predict_proba=task == "classification" and has_working_predict_proba(model, example),
                fitted_with_feature_names=hasattr(model, "feature_names_in_"),
                example=example,
                versions=library_versions(),
                metrics=metrics or {},
            )
        except ValueError as error:
            raise PackagingError(f"Cannot describe this model: {error}") from error
        if runtime == "onnx":
            # skl2onnx and onnx are packaging-time tools: imported only for --runtime onnx.
            from .onnx_export import export_onnx

            exported = export_onnx(model, manifest)
            (staging / ONNX_FILENAME).write_bytes(exported.model_bytes)
            # model.joblib stays in the directory: it is what the ONNX graph was verified against, and what
            # serves the model if it is ever packaged for the scikit-learn runtime again.
            manifest = ModelManifest.model_validate(
                {**manifest.model_dump(), "runtime": "onnx", "onnx": exported.artifact.model_dump()}
            )
        write_manifest(staging, manifest)
        try:
            ModelRuntime.load(staging)
            if runtime == "onnx":
                from predict_service.onnx_runtime import OnnxRuntime

                OnnxRuntime.load(staging)
        except ModelLoadError as error:
            raise PackagingError(f"The packaged model does not serve: {error.message}") from error
        if model_dir.exists():
            shutil.rmtree(model_dir)
        staging.rename(model_dir)
        return manifest
    finally:
        shutil.rmtree(staging, ignore_errors=True)
