"""`sklambda package`: bring your own fitted model.joblib (served as is, converted to skops, or exported to ONNX)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import joblib
from predict_service.manifest import FeatureSpec, ModelManifest
from predict_service.runtimes import DEFAULT_RUNTIME

from .artifact import (
    ModelFormat,
    PackagingError,
    Runtime,
    check_format_and_runtime,
    describe_estimator,
    write_model_dir,
)
from .layer_contents import LayerContentsError, UnreadableModelFile, plan_layer


def resolve_feature_names(model: Any, given: list[str] | None) -> list[str]:
    """feature_names_in_ when the estimator has it, else the user's list, else f0..fN-1."""
    fitted = getattr(model, "feature_names_in_", None)
    n_features = getattr(model, "n_features_in_", None)
    if fitted is not None:
        fitted_names = [str(name) for name in fitted]
        if given is not None and given != fitted_names:
            raise PackagingError(
                f"--features {given} disagrees with the names the model was fitted with {fitted_names}"
            )
        return fitted_names
    if given is not None:
        if n_features is not None and len(given) != n_features:
            raise PackagingError(f"--features names {len(given)} columns but the model expects {n_features}")
        return given
    if n_features is None:
        raise PackagingError(
            f"{describe_estimator(model)} does not say how many features it takes: pass --features a,b,c"
        )
    return [f"f{index}" for index in range(int(n_features))]


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
    example: list[float] | None,
    class_names: list[str] | None,
    runtime: Runtime = DEFAULT_RUNTIME,
    model_format: ModelFormat = "joblib",
    code_paths: list[Path] | None = None,
    sklearn_python: Path | None = None,
) -> ModelManifest:
    check_format_and_runtime(model_format, runtime)
    if not model_file.is_file():
        raise PackagingError(f"{model_file} does not exist")
    try:
        contents = plan_layer(model_file, code_paths or [], sklearn_python)
    except UnreadableModelFile as error:
        # joblib's own account of a file that is no pickle at all is the clearer one.
        try:
            joblib.load(model_file)
        except Exception as load_error:
            raise PackagingError(
                f"{model_file} does not load with joblib: {type(load_error).__name__}: {load_error}"
            ) from load_error
        raise PackagingError(str(error)) from error
    except LayerContentsError as error:
        raise PackagingError(str(error)) from error
    try:
        with contents.importable(), warnings.catch_warnings():
            if contents.other_sklearn is not None:
                # Read here only for its description (features, classes); it is verified in its own environment.
                warnings.simplefilter("ignore")
            model = joblib.load(model_file)
    except Exception as error:
        raise PackagingError(f"{model_file} does not load with joblib: {type(error).__name__}: {error}") from error
    if not callable(getattr(model, "predict", None)):
        raise PackagingError(f"{model_file} holds a {type(model).__name__}, which has no predict method")
    names = resolve_feature_names(model, feature_names)
    check_class_names(model, class_names)
    if example is None:
        example = [0.0] * len(names)
    elif len(example) != len(names):
        raise PackagingError(f"--example has {len(example)} values but the model takes {len(names)} features")
    return write_model_dir(
        model,
        model_dir,
        name=name or model_file.stem,
        version=version,
        features=[FeatureSpec(name=feature) for feature in names],
        example=example,
        class_names=class_names,
        source_file=model_file,
        runtime=runtime,
        model_format=model_format,
        contents=contents,
    )
