"""Writes a model directory (model.joblib or model.skops, + model.json) and proves it loads before calling it done."""

from __future__ import annotations

import json
import platform
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, NamedTuple

import joblib
import numpy as np
import scipy
import sklearn
from predict_service.errors import ModelLoadError
from predict_service.manifest import (
    MANIFEST_FILENAME,
    MODEL_FILENAME,
    ONNX_FILENAME,
    SKOPS_FILENAME,
    FeatureSpec,
    LibraryVersions,
    Lineage,
    ModelManifest,
    SkopsArtifact,
    dangerous_types,
    file_sha256,
    manifest_problems,
    write_manifest,
)
from predict_service.runtimes import DEFAULT_RUNTIME, RUNTIMES, runtime_class
from predict_service.runtimes.sklearn import SklearnRuntime

from .intake import IntakeError, ModelIntake, has_working_predict_proba
from .layer_contents import LayerContents, LayerContentsError
from .requirements import UserCodeError, copy_user_code

# A name in predict_service.runtimes.RUNTIMES.
Runtime = str
ModelFormat = Literal["joblib", "skops"]
FORMATS: list[ModelFormat] = ["joblib", "skops"]


class Export(NamedTuple):
    """What a runtime that serves a converted model adds to the directory: its file and its manifest fields."""

    filename: str
    model_bytes: bytes
    manifest_fields: dict[str, Any]


def export_onnx_file(model: Any, manifest: ModelManifest) -> Export:
    # skl2onnx and onnx are packaging-time tools: imported only for --runtime onnx.
    from .onnx_export import export_onnx

    exported = export_onnx(model, manifest)
    return Export(ONNX_FILENAME, exported.model_bytes, {"onnx": exported.artifact.model_dump()})


# The runtimes that serve a conversion of the scikit-learn model, and how to make it. The others serve the
# scikit-learn model's own file.
EXPORTERS: dict[Runtime, Callable[[Any, ModelManifest], Export]] = {"onnx": export_onnx_file}


class PackagingError(Exception):
    """Raise when a model cannot become a servable model directory; the message says what to do."""


def describe_estimator(model: Any) -> str:
    steps = getattr(model, "steps", None)
    if steps:
        return f"Pipeline({', '.join(type(step).__name__ for _, step in steps)})"
    return type(model).__name__


def library_versions(pickled_with: str | None = None) -> LibraryVersions:
    """The stack that serves the model; `pickled_with` is the scikit-learn the user's pickle was written with (see
    sklambda.pickled_version), recorded instead of the local one so that a model is never relabelled."""
    return LibraryVersions.model_validate(
        {
            "python": platform.python_version(),
            "scikit-learn": pickled_with or sklearn.__version__,
            "numpy": np.__version__,
            "joblib": joblib.__version__,
            "scipy": scipy.__version__,
        }
    )


def check_format_and_runtime(model_format: ModelFormat, runtime: Runtime) -> None:
    """Refuse combinations that mean nothing, before any training or conversion work."""
    if runtime not in RUNTIMES:
        raise PackagingError(f"--runtime {runtime!r} is not one of {', '.join(RUNTIMES)}")
    spec = RUNTIMES[runtime]
    if model_format not in spec.formats:
        serving = [other.title for other in RUNTIMES.values() if model_format in other.formats]
        raise PackagingError(
            f"--format {model_format} is for the {' or '.join(serving)} runtime: with --runtime {runtime} the layer "
            f"ships {' or '.join(spec.model_files)}, not the scikit-learn model's file, so there is nothing for "
            f"{model_format} to replace; drop one of the two options"
        )


def write_skops(model: Any, path: Path) -> SkopsArtifact:
    """Save the model with skops.io and work out which types beyond skops' defaults loading it needs. A type that
    can run code or reach the system is refused here: the server would call it on request data."""
    import skops  # type: ignore[import-untyped]  # skops ships no type information
    import skops.io  # type: ignore[import-untyped]

    try:
        # skops stores arrays uncompressed by default: a forest's file is then about 10x its pickle, and it ships
        # in a layer with a size limit. Deflated, it is about the pickle's size and loads as fast.
        skops.io.dump(model, path, compression=zipfile.ZIP_DEFLATED)
    except Exception as error:
        raise PackagingError(
            f"skops cannot save {describe_estimator(model)}: {type(error).__name__}: {error}; package it without "
            f"--format skops"
        ) from error
    needed = sorted(skops.io.get_untrusted_types(file=path))
    dangerous = dangerous_types(needed)
    if dangerous:
        raise PackagingError(
            f"Refusing to package {describe_estimator(model)} with skops: it references {dangerous}, which can run "
            f"code or reach files, processes or the network when the model predicts; remove them from the model "
            f"(e.g. the function given to a FunctionTransformer)"
        )
    return SkopsArtifact(skops=skops.__version__, trusted_types=needed)


def example_array(example: list[Any]) -> np.ndarray:
    """The example row as the model takes it when no intake describes the model (models `sklambda train` fits)."""
    return np.array([example], dtype=object if any(isinstance(value, str) for value in example) else np.float64)


def check_same_predictions(original: Any, loaded: Any, row: np.ndarray, with_proba: bool) -> None:
    """skops rebuilds the model object by object; make sure the rebuilt one answers as the original does."""
    methods = ["predict", "predict_proba"] if with_proba else ["predict"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method in methods:
            want, got = getattr(original, method)(row), getattr(loaded, method)(row)
            if not np.array_equal(want, got):
                raise PackagingError(
                    f"The model loaded back from {SKOPS_FILENAME} {method}s {got.tolist()} on the example row where "
                    f"the original {method}s {want.tolist()}; package it without --format skops"
                )


def without_nulls(intake: ModelIntake) -> ModelIntake:
    try:
        return intake.without_nulls()
    except IntakeError as error:
        raise PackagingError(str(error)) from error


def check_replaceable(model_dir: Path, name: str) -> None:
    """Refuse to replace a directory that holds another model, or anything but a model directory: packaging
    replaces the whole directory, and the user may have pointed --model-dir at the wrong place."""
    if not model_dir.exists():
        return
    if not model_dir.is_dir():
        raise PackagingError(f"{model_dir} is a file, not a model directory: pass --force to replace it")
    if not any(model_dir.iterdir()):
        return
    manifest_path = model_dir / MANIFEST_FILENAME
    try:
        current = json.loads(manifest_path.read_text(encoding="utf-8")).get("name")
    except (OSError, ValueError, AttributeError):
        current = None
    if current is None:
        raise PackagingError(
            f"{model_dir} holds files that are not a packaged model (no readable {MANIFEST_FILENAME}): choose "
            f"another --model-dir, or pass --force to replace its contents"
        )
    if current != name:
        raise PackagingError(
            f"{model_dir} holds the model {current!r}: pass --force to replace it with {name!r}, or choose another "
            f"--model-dir"
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
    runtime: Runtime = DEFAULT_RUNTIME,
    model_format: ModelFormat = "joblib",
    contents: LayerContents | None = None,
    intake: ModelIntake | None = None,
    pickled_with: str | None = None,
    force: bool = False,
    lineage: Lineage | None = None,
) -> ModelManifest:
    """Stage the directory next to its destination, verify it with the real runtime, then swap it in, so a
    failed packaging never leaves a half-written model where the server or the layer build would find it.

    model_format "skops" writes model.skops instead of model.joblib: no pickle in the directory at all (the
    user's own .joblib file stays where it was).
    `contents`: what the layer must hold beyond the base stack (requirements, the user's code, another
    scikit-learn), as `sklambda package` found it in the model file.
    `intake` (from sklambda.intake) describes a user's model: its features, example, task and outputs, and the
    model to pickle (a DataFrame model rewritten for rows; its own pickle is then written, not `source_file`).
    Without it the model is a classifier or regressor taking `features` as `sklambda train` fits them.
    A `model_dir` holding another model (another name, or files that are not a model directory) is replaced only
    with `force`."""
    check_format_and_runtime(model_format, runtime)
    if not force:
        check_replaceable(model_dir, name)
    other_sklearn = contents.other_sklearn if contents is not None else None
    if other_sklearn is not None and (runtime != SklearnRuntime.name or model_format != "joblib"):
        raise PackagingError(
            f"the model was pickled by scikit-learn {other_sklearn.versions.scikit_learn}, not the local "
            f"{sklearn.__version__}: it can only ship as the pickle it is (drop --runtime/--format), or re-fit it with "
            f"scikit-learn {sklearn.__version__} to convert it"
        )
    if other_sklearn is not None and intake is not None and intake.rewritten:
        raise PackagingError(
            f"the model was pickled by scikit-learn {other_sklearn.versions.scikit_learn} and fitted on a DataFrame: "
            f"rewriting it for plain rows would pickle it again with scikit-learn {sklearn.__version__}; re-fit it "
            f"with scikit-learn {sklearn.__version__}"
        )
    if intake is not None:
        model = intake.model
        if intake.rewritten:
            source_file = None
        if runtime in EXPORTERS:
            intake = without_nulls(intake)
    if not callable(getattr(model, "predict", None)):
        raise PackagingError(f"{describe_estimator(model)} has no predict method: it is not a fitted estimator")
    classes = getattr(model, "classes_", None)
    task: Literal["classification", "regression"] = "classification" if classes is not None else "regression"
    example_input = intake.model_input([example]) if intake is not None else example_array(example)
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=model_dir.parent))
    try:
        skops_artifact = None
        if model_format == "skops":
            model_path = staging / SKOPS_FILENAME
            skops_artifact = write_skops(model, model_path)
        elif source_file is not None:
            # Copy the user's bytes as they are: the sha256 in the manifest is then the file they handed over.
            model_path = staging / MODEL_FILENAME
            shutil.copyfile(source_file, model_path)
        else:
            model_path = staging / MODEL_FILENAME
            joblib.dump(model, model_path)
        sha256 = file_sha256(model_path)
        code: dict[str, str] = {}
        for code_path in contents.code_paths if contents is not None else []:
            try:
                code.update(copy_user_code(code_path, staging))
            except UserCodeError as error:
                raise PackagingError(str(error)) from error
        names = [feature.name for feature in features]
        fields: dict[str, Any] = {
            "name": name,
            "version": version or sha256[:12],
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "sha256": sha256,
            "estimator": describe_estimator(model),
            "task": task,
            "features": features,
            "feature_names": names,
            "n_features": len(names),
            "classes": np.asarray(classes).tolist() if classes is not None else None,
            "class_names": class_names,
            "has_predict_proba": task == "classification" and has_working_predict_proba(model, example_input),
            "fitted_with_feature_names": hasattr(model, "feature_names_in_"),
            "example": example,
            "versions": other_sklearn.versions if other_sklearn is not None else library_versions(pickled_with),
            "requirements": contents.requirements if contents is not None else {},
            "code": code,
            "metrics": metrics or {},
            "format": model_format,
            "skops": skops_artifact,
            "lineage": lineage,
        }
        if intake is not None:
            fields.update(intake.manifest_fields())
        try:
            manifest = ModelManifest.model_validate(fields)
        except ValueError as error:
            raise PackagingError(f"Cannot describe this model: {manifest_problems(error)}") from error
        exporter = EXPORTERS.get(runtime)
        if exporter is not None:
            exported = exporter(model, manifest)
            (staging / exported.filename).write_bytes(exported.model_bytes)
            # model.joblib stays in the directory: it is what the converted model was verified against, and what
            # serves the model if it is ever packaged for the scikit-learn runtime again.
            manifest = ModelManifest.model_validate(
                {**manifest.model_dump(), "runtime": runtime, **exported.manifest_fields}
            )
        shipped = manifest.shipped_file()
        manifest = manifest.model_copy(update={"model_bytes": (staging / shipped.name).stat().st_size})
        write_manifest(staging, manifest)
        if contents is not None and other_sklearn is not None:
            # The local scikit-learn is not the one that pickled it and would refuse it: load and predict where
            # the pickle's own versions are installed.
            try:
                contents.verify_in_env(model_path, example, manifest.has_predict_proba)
            except LayerContentsError as error:
                raise PackagingError(f"The packaged model does not serve: {error}") from error
            if model_dir.exists():
                shutil.rmtree(model_dir)
            staging.rename(model_dir)
            return manifest
        try:
            served = SklearnRuntime.load(staging)
            if skops_artifact is not None:
                check_same_predictions(model, served.model, example_input, manifest.has_predict_proba)
            if runtime != SklearnRuntime.name:
                runtime_class(runtime, staging).load(staging)
        except ModelLoadError as error:
            raise PackagingError(f"The packaged model does not serve: {error.message}") from error
        if model_dir.exists():
            shutil.rmtree(model_dir) if model_dir.is_dir() else model_dir.unlink()
        staging.rename(model_dir)
        return manifest
    finally:
        shutil.rmtree(staging, ignore_errors=True)
