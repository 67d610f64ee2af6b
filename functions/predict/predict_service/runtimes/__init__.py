"""The model runtimes, as one table: what each is called in model.json, where its implementation lives, which
model file(s) it ships, which layer requirements file installs its libraries, and which library's version must
match the one the model was made with. Everything that depends on the runtime (the loader, manifest validation,
the S3 model source, the CLI, the size report, the template's IAM list through its test) reads this table.

This module imports no runtime library: an implementation is imported only once a model asks for it (the ONNX
layer has no scikit-learn, the scikit-learn layer no onnxruntime, and importing the unused stack costs cold start).
Adding a runtime: its module (a `base.ModelRuntimeBase` subclass), one entry below, its layer requirements file.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ModelLoadError

if TYPE_CHECKING:
    from ..manifest import ModelManifest, ShippedFile
    from .base import ModelRuntimeBase

MODEL_FILENAME = "model.joblib"
SKOPS_FILENAME = "model.skops"
ONNX_FILENAME = "model.onnx"


@dataclass(frozen=True, slots=True)
class RuntimeSpec:
    name: str
    """Its value of model.json's "runtime" and of `sklambda package/train --runtime`."""
    title: str
    """What its models are called in messages ("scikit-learn", "ONNX")."""
    implementation: str
    """"module:Class" of its `ModelRuntimeBase` subclass, imported only when a model needs it."""
    library: str
    """The distribution that runs its models; its version must be the one recorded in the manifest."""
    requirements: str
    """Its layer's requirements file, in layers/model/."""
    model_files: tuple[str, ...]
    """Every model file it may ship (one of them per model directory, named by the manifest)."""
    shipped_file: Callable[[ModelManifest], ShippedFile]
    """Which of `model_files` a (valid) manifest's directory ships, and the sha256 it records for it."""
    formats: tuple[str, ...]
    """The model.json "format" values it accepts (the format of the scikit-learn model packaged)."""
    section: str | None
    """The manifest section describing its own artifact, required for (and only for) this runtime."""
    summary: str
    """One line for `--runtime` help."""


def _sklearn_file(manifest: ModelManifest) -> ShippedFile:
    from ..manifest import ShippedFile

    return ShippedFile(manifest.model_filename, manifest.sha256, "sha256")


def _onnx_file(manifest: ModelManifest) -> ShippedFile:
    from ..manifest import ShippedFile

    if manifest.onnx is None:
        raise ValueError("the onnx section is required for, and only for, runtime 'onnx'")
    return ShippedFile(ONNX_FILENAME, manifest.onnx.sha256, "onnx.sha256")


RUNTIMES: dict[str, RuntimeSpec] = {
    spec.name: spec
    for spec in (
        RuntimeSpec(
            name="sklearn",
            title="scikit-learn",
            implementation="predict_service.runtimes.sklearn:SklearnRuntime",
            library="scikit-learn",
            requirements="requirements.txt",
            model_files=(MODEL_FILENAME, SKOPS_FILENAME),
            shipped_file=_sklearn_file,
            formats=("joblib", "skops"),
            section=None,
            summary="serve model.joblib (or model.skops) with scikit-learn",
        ),
        RuntimeSpec(
            name="onnx",
            title="ONNX",
            implementation="predict_service.runtimes.onnx:OnnxRuntime",
            library="onnxruntime",
            requirements="requirements-onnx.txt",
            model_files=(ONNX_FILENAME,),
            shipped_file=_onnx_file,
            formats=("joblib",),
            section="onnx",
            summary=(
                "also export model.onnx, verified against the model, and serve it with onnxruntime (a smaller "
                "layer and a faster cold start)"
            ),
        ),
    )
}
DEFAULT_RUNTIME = "sklearn"
# Every model file any runtime may ship, in table order.
MODEL_FILES: tuple[str, ...] = tuple(name for spec in RUNTIMES.values() for name in spec.model_files)


def runtime_spec(name: str) -> RuntimeSpec:
    """The entry for `name`, or ValueError naming the runtimes there are (manifest validation words it)."""
    try:
        return RUNTIMES[name]
    except KeyError:
        raise ValueError(f"runtime {name!r} is not one of {', '.join(map(repr, RUNTIMES))}") from None


def runtime_class(name: str, model_dir: Path) -> type[ModelRuntimeBase]:
    """The implementation of runtime `name`, imported now; ModelLoadError when its libraries are not installed
    (the layer was built for another runtime)."""
    spec = runtime_spec(name)
    module_name, _, class_name = spec.implementation.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ModelLoadError.stack_missing(
            model_dir,
            spec.name,
            spec.title,
            spec.library,
            error,
            f"build the model layer from this model directory (`make build` installs {spec.library} for it), or "
            f"`pip install -r layers/model/{spec.requirements}` to serve it locally",
        ) from error
    implementation: type[ModelRuntimeBase] = getattr(module, class_name)
    return implementation
