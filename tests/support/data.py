"""Paths of the checkout and the demo model's data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from predict_service.inputs import RowConverter
from predict_service.predictions import PredictionRuntime

REPO_ROOT = Path(__file__).resolve().parents[2]
IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def iris_rows(count: int, seed: int = 0) -> np.ndarray:
    """Random rows spread over (and a little beyond) the iris feature ranges."""
    rng = np.random.default_rng(seed)
    low = np.array([4.0, 1.8, 0.8, 0.0])
    high = np.array([8.2, 4.6, 7.2, 2.7])
    return np.round(rng.uniform(low, high, size=(count, 4)), 2)


def model_input(runtime: PredictionRuntime, rows: list[Any]) -> np.ndarray:
    """`rows` (a request's instances) as the app hands them to `runtime.predict`: through the input seam."""
    manifest = runtime.manifest
    return RowConverter(manifest.features, manifest.input_layout).to_array(rows, "instances")
