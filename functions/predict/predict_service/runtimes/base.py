"""What every runtime shares: the load skeleton (verify sha256 -> check versions -> load -> warm up -> log) and the
checked predict. A runtime supplies how to load its file, its version check and its raw predict.

Imports no runtime library, so each runtime pays only for its own imports at cold start.
"""

from __future__ import annotations

import hashlib
import logging
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar, Self

import numpy as np

from ..errors import ModelLoadError
from ..inputs import RowConverter
from ..manifest import ModelManifest, ShippedFile
from ..predictions import Predictions, ProbabilityMatrix, finite_predictions, open_model_dir, warm_up
from . import RuntimeSpec, runtime_spec

logger = logging.getLogger("predict_service.runtime")


class ModelRuntimeBase(ABC):
    """A verified, warmed-up model plus everything per-request work needs, computed once."""

    name: ClassVar[str]
    """Its entry in the runtime table (`runtimes.RUNTIMES`)."""

    def __init__(self, manifest: ModelManifest) -> None:
        self.manifest = manifest
        self.rows = RowConverter(manifest.features, manifest.input_layout)
        # predict_proba columns follow the classes (per output, for multi-output); JSON object keys must be strings.
        self.class_keys: list[str] | list[list[str]] = (
            [[str(label) for label in labels] for labels in manifest.classes or [] if isinstance(labels, list)]
            if manifest.task == "multioutput_classification"
            else [str(label) for label in manifest.classes or []]
        )

    @classmethod
    def spec(cls) -> RuntimeSpec:
        return runtime_spec(cls.name)

    @classmethod
    def load(cls, model_dir: Path, manifest: ModelManifest | None = None) -> Self:
        """Verify the model file's sha256 and the library version *before* loading, then warm up on the example
        row. `manifest`: the directory's model.json when the caller has already read it."""
        started = time.perf_counter()
        manifest = manifest or open_model_dir(model_dir)
        shipped = cls.model_file(manifest, model_dir)
        model_path = model_dir / shipped.name
        if not model_path.is_file():
            raise cls.model_file_missing(model_dir, manifest, shipped.name)
        # Hash the very bytes that are then loaded: the file cannot change between the check and the load.
        model_bytes = model_path.read_bytes()
        actual = hashlib.sha256(model_bytes).hexdigest()
        if actual != shipped.sha256:
            raise ModelLoadError.sha256_mismatch(model_path, actual, shipped.sha256, cls.refused_action(manifest))
        cls.check_versions(manifest)
        runtime = cls.from_bytes(model_bytes, model_path, manifest)
        warm_up(runtime)
        logger.info(
            "model loaded",
            extra={
                "model_name": manifest.name,
                "model_version": manifest.version,
                "runtime": cls.name,
                "model_format": manifest.format,
                "load_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        return runtime

    @classmethod
    def model_file(cls, manifest: ModelManifest, model_dir: Path) -> ShippedFile:
        """The file this runtime loads from the directory and the sha256 it must have."""
        return cls.spec().shipped_file(manifest)

    @classmethod
    def model_file_missing(cls, model_dir: Path, manifest: ModelManifest, model_file: str) -> ModelLoadError:
        return ModelLoadError.model_file_missing(
            model_dir,
            model_file,
            f"names the {cls.name} runtime",
            f"`sklambda package MODEL.joblib --runtime {cls.name}`",
        )

    @classmethod
    def refused_action(cls, manifest: ModelManifest) -> str:
        """The verb of the sha256 refusal ("Refusing to load ...")."""
        return "load"

    @classmethod
    @abstractmethod
    def check_versions(cls, manifest: ModelManifest) -> None:
        """Refuse a model made with another version of the library than the installed one."""

    @classmethod
    @abstractmethod
    def from_bytes(cls, model_bytes: bytes, model_path: Path, manifest: ModelManifest) -> Self:
        """The runtime for the verified bytes of `model_path`."""

    def predict(self, features: np.ndarray, with_probabilities: bool) -> Predictions:
        """Predict on rows already validated by `self.rows` (finite, right width, right types)."""
        # Finite inputs far outside the training range (1e308) can overflow inside the model. That is reported
        # by finite_predictions as a 422 for the rows concerned, not as numpy warnings and JSON nulls.
        with np.errstate(all="ignore"):
            labels, matrix = self.raw_predict(features, with_probabilities)
        return finite_predictions(labels, matrix, self.class_keys)

    @abstractmethod
    def raw_predict(
        self, features: np.ndarray, with_probabilities: bool
    ) -> tuple[np.ndarray, ProbabilityMatrix | None]:
        """Labels and probability rows as arrays, unchecked."""
