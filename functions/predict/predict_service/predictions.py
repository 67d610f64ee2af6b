"""What every model runtime shares: the result type, the interface the app relies on, and the checks around them.

Two runtimes implement it: `runtime.ModelRuntime` (scikit-learn, unpickles model.joblib) and
`onnx_runtime.OnnxRuntime` (onnxruntime, runs model.onnx). This module imports neither scikit-learn nor
onnxruntime, so either runtime can use it without paying for the other's imports at cold start.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .errors import InvalidInputError, ModelLoadError
from .inputs import RowConverter
from .manifest import ModelManifest, read_manifest

# Cap the per-row detail of a non-finite output error, like the input validation does.
MAX_REPORTED_ROWS = 20


@dataclass(frozen=True, slots=True)
class Predictions:
    labels: list[Any]
    probabilities: list[dict[str, float]] | None


class PredictionRuntime(Protocol):
    """What the app needs from a loaded model: its manifest, its row converter and predict."""

    @property
    def manifest(self) -> ModelManifest: ...

    @property
    def rows(self) -> RowConverter: ...

    def predict(self, features: np.ndarray, with_probabilities: bool) -> Predictions:
        """Predict on rows already validated by `self.rows` (finite, right width, right types)."""
        ...


def open_model_dir(model_dir: Path) -> ModelManifest:
    """The manifest of an existing model directory; the first thing every runtime (and the loader) reads."""
    if not model_dir.is_dir():
        raise ModelLoadError(
            f"Model directory {model_dir} does not exist: run `sklambda train` (demo model) or "
            f"`sklambda package MODEL.joblib`, or set MODEL_DIR",
            {"model_dir": str(model_dir)},
        )
    return read_manifest(model_dir)


def verify_sha256(path: Path, actual: str, expected: str, refused_action: str) -> None:
    """Refuse a model file whose bytes are not the ones the manifest was written for."""
    if actual != expected:
        raise ModelLoadError(
            f"Refusing to {refused_action} {path}: its sha256 {actual} does not match the manifest's "
            f"{expected}. The file was changed after packaging; re-package it with `sklambda package` "
            f"if the change is yours",
            {"expected_sha256": expected, "actual_sha256": actual},
        )


def warm_up(runtime: PredictionRuntime) -> None:
    """One predict on the example row, so the first request does not pay for lazy imports and caches."""
    manifest = runtime.manifest
    try:
        runtime.predict(runtime.rows.to_array([manifest.example], "features"), manifest.has_predict_proba)
    except Exception as error:
        raise ModelLoadError(
            f"The model failed to predict its own example row {manifest.example}: {type(error).__name__}: {error}",
            {"example": manifest.example},
        ) from error


def check_finite(labels: np.ndarray, matrix: np.ndarray | None) -> None:
    """Finite inputs far outside the training range (1e308) can overflow inside a model: report the rows
    concerned as a 422 rather than answering JSON nulls. Vectorised: a 1000-row batch costs microseconds."""
    bad = ~np.isfinite(labels) if labels.dtype.kind == "f" else np.zeros(labels.shape[0], dtype=bool)
    if matrix is not None:
        bad |= ~np.isfinite(matrix).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad).tolist()
        raise InvalidInputError(
            f"The model's output is not a finite number for {len(rows)} row(s) (first: row {rows[0]}); "
            f"their values are probably far outside the range the model was trained on",
            [
                {"loc": ["row", row], "msg": "model output is not finite", "type": "non_finite_output"}
                for row in rows[:MAX_REPORTED_ROWS]
            ],
        )


def finite_predictions(labels: np.ndarray, matrix: np.ndarray | None, class_keys: list[str]) -> Predictions:
    """Checked labels as JSON-ready Python values (tolist keeps each label's own type: an int class stays an int),
    and probabilities as one {class key: probability} object per row (JSON keys are strings)."""
    check_finite(labels, matrix)
    if matrix is None:
        return Predictions(labels.tolist(), None)
    return Predictions(labels.tolist(), [dict(zip(class_keys, row, strict=True)) for row in matrix.tolist()])
