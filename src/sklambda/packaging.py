"""`sklambda package`: bring your own fitted model.joblib (served as is, converted to skops, or exported to ONNX)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from predict_service.manifest import SKOPS_FILENAME, ModelManifest
from predict_service.runtimes import DEFAULT_RUNTIME

from .artifact import (
    ModelFormat,
    PackagingError,
    Runtime,
    check_format_and_runtime,
    check_replaceable,
    describe_estimator,
    write_model_dir,
    write_skops,
)
from .intake import NO_OVERRIDES, Example, IntakeError, ModelIntake, Overrides, intake_model, read_training_data
from .pickled_version import PickledVersionError, load_model, pickled_sklearn_version, refuse_other_sklearn


def check_class_names(model: Any, given: list[str] | None) -> None:
    """One display name per class, in classes_ order."""
    if given is None:
        return
    classes = getattr(model, "classes_", None)
    if classes is None:
        raise PackagingError(f"{describe_estimator(model)} is a regressor, which has no classes: drop --class-names")
    labels = [label.item() if hasattr(label, "item") else label for label in classes]
    if len(given) != len(labels):
        raise PackagingError(
            f"--class-names names {len(given)} classes but the model has {len(labels)} ({labels}): give one name "
            f"per class, in that order"
        )


def package_model(
    model_file: Path,
    model_dir: Path,
    *,
    feature_names: list[str] | None,
    name: str | None,
    version: str | None,
    example: Example | None,
    class_names: list[str] | None,
    runtime: Runtime = DEFAULT_RUNTIME,
    model_format: ModelFormat = "joblib",
    overrides: Overrides = NO_OVERRIDES,
    training_data: Path | None = None,
    outputs: list[str] | None = None,
    force: bool = False,
) -> ModelManifest:
    check_format_and_runtime(model_format, runtime)
    if not model_file.is_file():
        raise PackagingError(f"{model_file} does not exist")
    name = name or model_file.stem
    if not force:
        check_replaceable(model_dir, name)
    model, pickled_with = load_user_model(model_file)
    if not callable(getattr(model, "predict", None)):
        raise PackagingError(f"{model_file} holds a {type(model).__name__}, which has no predict method")
    check_class_names(model, class_names)
    if model_format == "skops":
        # describing the model runs it: a model skops refuses to load must be refused before it runs here
        check_skops_types(model)
    intake = describe_user_model(model, feature_names, example, overrides, training_data, outputs)
    return write_model_dir(
        model,
        model_dir,
        name=name,
        version=version,
        features=[],
        example=intake.example,
        class_names=class_names,
        source_file=model_file,
        runtime=runtime,
        model_format=model_format,
        intake=intake,
        pickled_with=pickled_with,
        force=True,
    )


def check_skops_types(model: Any) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        write_skops(model, Path(scratch) / SKOPS_FILENAME)


def load_user_model(model_file: Path) -> tuple[Any, str | None]:
    """The model in the user's file and the scikit-learn version it was pickled with; a model pickled by another
    scikit-learn is refused (pickled_version.refuse_other_sklearn) before it is unpickled."""
    try:
        pickled_with = pickled_sklearn_version(model_file)
        if pickled_with is not None:
            refuse_other_sklearn(model_file, pickled_with)
    except PickledVersionError as error:
        raise PackagingError(str(error)) from error
    try:
        return load_model(model_file), pickled_with
    except Exception as error:
        message = " ".join(str(error).split())
        raise PackagingError(f"{model_file} does not load with joblib: {type(error).__name__}: {message}") from error


def describe_user_model(
    model: Any,
    feature_names: list[str] | None,
    example: Example | None,
    overrides: Overrides,
    training_data: Path | None,
    outputs: list[str] | None,
) -> ModelIntake:
    """Features, task, outputs and the model to serve (see sklambda.intake), as a PackagingError when impossible."""
    try:
        frame = read_training_data(training_data) if training_data is not None else None
        return intake_model(
            model,
            feature_names=feature_names,
            example=example,
            overrides=overrides,
            training_data=frame,
            outputs=outputs,
        )
    except IntakeError as error:
        raise PackagingError(str(error)) from error
