"""What every model runtime shares: the result type, the interface the app relies on, and the checks around them.

The runtimes that implement it are listed in `runtimes.RUNTIMES`. This module imports no runtime library, so each
runtime can use it without paying for the others' imports at cold start.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .errors import InvalidInputError, ModelLoadError
from .inputs import RowConverter
from .manifest import ModelManifest, read_manifest

# predict_proba's answer: one matrix (rows x classes), or one matrix per output for multi-output classification.
ProbabilityMatrix = np.ndarray | list[np.ndarray]


@dataclass(frozen=True, slots=True)
class Predictions:
    """What the model answered, JSON-ready. `labels` holds one value per row: a class, a number, a cluster (an
    integer), 1 / -1 (outlier detection), or, for the multi-output tasks, a list with one value per output."""

    labels: list[Any]
    # Per row, {class key: probability}; for multi-output classification, a list of one such object per output.
    probabilities: list[Any] | None


class PredictionRuntime(Protocol):
    """What the app needs from a loaded model: its manifest and predict. Rows become the model's array in the input
    seam (inputs.RowConverter, built by the app from the manifest), not here."""

    @property
    def manifest(self) -> ModelManifest: ...

    def predict(self, features: np.ndarray, with_probabilities: bool) -> Predictions:
        """Predict on rows already validated and converted by inputs.RowConverter (finite, right width, types)."""
        ...


def open_model_dir(model_dir: Path) -> ModelManifest:
    """The manifest of an existing model directory; the first thing every runtime (and the loader) reads."""
    if not model_dir.is_dir():
        raise ModelLoadError.model_dir_missing(model_dir)
    return read_manifest(model_dir)


def example_array(manifest: ModelManifest) -> np.ndarray:
    """The manifest's example row as the model takes it."""
    return RowConverter(manifest.features, manifest.input_layout).to_array([manifest.example], "features")


def warm_up(runtime: PredictionRuntime) -> None:
    """One predict on the example row, so the first request does not pay for lazy imports and caches."""
    manifest = runtime.manifest
    try:
        example = example_array(manifest)
        runtime.predict(example, manifest.has_predict_proba)
    except Exception as error:
        raise ModelLoadError.warm_up_failed(manifest.example, error) from error


def check_finite(labels: np.ndarray, matrix: ProbabilityMatrix | None) -> None:
    """Finite inputs far outside the training range (1e308) can overflow inside a model: report the rows
    concerned as a 422 rather than answering JSON nulls. Vectorised: a 1000-row batch costs microseconds."""
    if labels.dtype.kind == "f":
        bad = ~np.isfinite(labels) if labels.ndim == 1 else ~np.isfinite(labels).all(axis=1)
    else:
        bad = np.zeros(labels.shape[0], dtype=bool)
    for each in [matrix] if isinstance(matrix, np.ndarray) else matrix or []:
        bad |= ~np.isfinite(each).all(axis=1)
    if bad.any():
        raise InvalidInputError.non_finite_output(np.flatnonzero(bad).tolist())


def finite_predictions(
    labels: np.ndarray, matrix: ProbabilityMatrix | None, class_keys: list[str] | list[list[str]]
) -> Predictions:
    """Checked labels as JSON-ready Python values (tolist keeps each label's own type: an int class stays an int;
    a multi-output row becomes a list), and probabilities as one {class key: probability} object per row, or per
    row a list of one such object per output (JSON keys are strings)."""
    check_finite(labels, matrix)
    if matrix is None:
        return Predictions(labels.tolist(), None)
    if isinstance(matrix, np.ndarray):
        return Predictions(labels.tolist(), [dict(zip(class_keys, row, strict=True)) for row in matrix.tolist()])
    per_output = [
        [dict(zip(keys, row, strict=True)) for row in output.tolist()]
        for keys, output in zip(class_keys, matrix, strict=True)
    ]
    return Predictions(labels.tolist(), [list(outputs) for outputs in zip(*per_output, strict=True)])
