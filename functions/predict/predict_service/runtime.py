"""The model runtime: loads a model directory, verifies it, and predicts. Knows nothing about HTTP."""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn

from .errors import ModelLoadError
from .fastpath import build_verified_fast_predictor
from .inputs import RowConverter
from .manifest import MODEL_FILENAME, ModelManifest, file_sha256
from .predictions import Predictions, finite_predictions, open_model_dir, verify_sha256, warm_up

__all__ = ["ModelRuntime", "Predictions"]

logger = logging.getLogger(__name__)


class ModelRuntime:
    """A verified, warmed-up model plus everything per-request work needs, computed once."""

    def __init__(self, model: Any, manifest: ModelManifest) -> None:
        self.model = model
        self.manifest = manifest
        self.rows = RowConverter(manifest.features)
        # predict_proba columns follow model.classes_; JSON object keys must be strings.
        self.class_keys = [str(label) for label in manifest.classes or []]
        # Models fitted on a DataFrame warn on every plain-array call although we already put the columns in
        # the manifest's order; silence just that warning, and only for those models.
        self.silence_feature_name_warning = manifest.fitted_with_feature_names
        self.fast = build_verified_fast_predictor(model, self.rows.to_array([manifest.example], "features"))

    @classmethod
    def load(cls, model_dir: Path) -> ModelRuntime:
        """Verify the sha256 and the scikit-learn version *before* unpickling, then warm up on the example row."""
        started = time.perf_counter()
        manifest = open_model_dir(model_dir)
        model_path = model_dir / MODEL_FILENAME
        if not model_path.is_file():
            raise ModelLoadError(
                f"No {MODEL_FILENAME} in {model_dir} (model.json is there): copy the file that was packaged, or "
                f"re-create the directory with `sklambda package MODEL.joblib` or `sklambda train`",
                {"model_dir": str(model_dir)},
            )
        verify_sha256(model_path, file_sha256(model_path), manifest.sha256, "unpickle")
        pickled_with = manifest.versions.scikit_learn
        if pickled_with != sklearn.__version__:
            raise ModelLoadError(
                f"Model was pickled with scikit-learn {pickled_with} but scikit-learn {sklearn.__version__} is "
                f"installed: retrain or re-package it with scikit-learn {sklearn.__version__}, or pin "
                f"scikit-learn=={pickled_with} in layers/model/requirements.txt and requirements-dev.txt",
                {"model_scikit_learn": pickled_with, "installed_scikit_learn": sklearn.__version__},
            )
        try:
            model = joblib.load(model_path)
        except Exception as error:
            raise ModelLoadError(
                f"Could not unpickle {model_path}: {type(error).__name__}: {error}", {"model_dir": str(model_dir)}
            ) from error
        runtime = cls(model, manifest)
        runtime.warm_up()
        logger.info(
            "model loaded",
            extra={
                "model_name": manifest.name,
                "model_version": manifest.version,
                "load_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        return runtime

    def warm_up(self) -> None:
        """One predict on the example row, so the first request does not pay for lazy imports and caches."""
        warm_up(self)

    def predict(self, features: np.ndarray, with_probabilities: bool) -> Predictions:
        """Predict on rows already validated by `self.rows` (finite, right width, right types)."""
        if self.silence_feature_name_warning:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="X does not have valid feature names")
                return self._predict(features, with_probabilities)
        return self._predict(features, with_probabilities)

    def _predict(self, features: np.ndarray, with_probabilities: bool) -> Predictions:
        # Finite inputs far outside the training range (1e308) can overflow inside the model. That is reported
        # by finite_predictions as a 422 for the rows concerned, not as numpy warnings and JSON nulls.
        with np.errstate(all="ignore"):
            labels, matrix = self._raw_predict(features, with_probabilities)
        return finite_predictions(labels, matrix, self.class_keys)

    def _raw_predict(
        self, features: np.ndarray, with_probabilities: bool
    ) -> tuple[list[Any], list[list[float]] | None]:
        fast = self.fast
        with_probabilities = with_probabilities and self.manifest.has_predict_proba
        if fast is not None and (not with_probabilities or fast.has_predict_proba):
            labels = fast.predict(features).tolist()
            matrix = fast.predict_proba(features).tolist() if with_probabilities else None
        else:
            # Inputs were checked at the edge, so scikit-learn's finiteness and parameter checks are repeat work.
            with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
                labels = self.model.predict(features).tolist()
                matrix = self.model.predict_proba(features).tolist() if with_probabilities else None
        return labels, matrix
