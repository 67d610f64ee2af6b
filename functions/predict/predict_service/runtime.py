"""The model runtime: loads a model directory, verifies it, and predicts. Knows nothing about HTTP.

The model file is model.joblib (a pickle: its sha256 is checked before unpickling) or, for models packaged with
`--format skops`, model.skops, loaded by skops.io with exactly the types the manifest lists as trusted. skops is
imported only for such models: the default layer does not ship it.
"""

from __future__ import annotations

import hashlib
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
from .manifest import ModelManifest, SkopsArtifact, file_sha256
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
    def load(cls, model_dir: Path, manifest: ModelManifest | None = None) -> ModelRuntime:
        """Verify the sha256 and the scikit-learn version *before* loading, then warm up on the example row.
        `manifest`: the directory's model.json when the caller has already read it."""
        started = time.perf_counter()
        manifest = manifest or open_model_dir(model_dir)
        model_path = model_dir / manifest.model_filename
        if not model_path.is_file():
            raise ModelLoadError(
                f"No {manifest.model_filename} in {model_dir} (model.json is there and names format "
                f"{manifest.format!r}): copy the file that was packaged, or re-create the directory with "
                f"`sklambda package MODEL.joblib` or `sklambda train`",
                {"model_dir": str(model_dir), "format": manifest.format},
            )
        if manifest.skops is not None:
            model = _load_skops(model_path, manifest, manifest.skops)
        else:
            verify_sha256(model_path, file_sha256(model_path), manifest.sha256, "unpickle")
            _check_scikit_learn_version(manifest)
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
                "model_format": manifest.format,
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

    def _raw_predict(self, features: np.ndarray, with_probabilities: bool) -> tuple[np.ndarray, np.ndarray | None]:
        fast = self.fast
        with_probabilities = with_probabilities and self.manifest.has_predict_proba
        if fast is not None and (not with_probabilities or fast.has_predict_proba):
            labels = fast.predict(features)
            matrix = fast.predict_proba(features) if with_probabilities else None
        else:
            # Inputs were checked at the edge, so scikit-learn's finiteness and parameter checks are repeat work.
            with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
                labels = np.asarray(self.model.predict(features))
                matrix = (
                    np.asarray(self.model.predict_proba(features), dtype=np.float64) if with_probabilities else None
                )
        return labels, matrix


def _check_scikit_learn_version(manifest: ModelManifest) -> None:
    # Both formats restore scikit-learn's private state as is (pickle and skops alike): only the version that
    # wrote it is known to read it back correctly.
    saved_with = manifest.versions.scikit_learn
    if saved_with != sklearn.__version__:
        verb = "saved with skops by" if manifest.format == "skops" else "pickled with"
        raise ModelLoadError(
            f"Model was {verb} scikit-learn {saved_with} but scikit-learn {sklearn.__version__} is "
            f"installed: retrain or re-package it with scikit-learn {sklearn.__version__}, or pin "
            f"scikit-learn=={saved_with} in layers/model/requirements.txt and requirements-dev.txt",
            {"model_scikit_learn": saved_with, "installed_scikit_learn": sklearn.__version__},
        )


def _load_skops(model_path: Path, manifest: ModelManifest, artifact: SkopsArtifact) -> Any:
    """model.skops, verified then loaded from the same bytes (the file cannot change in between), trusting
    exactly the manifest's list."""
    model_bytes = model_path.read_bytes()
    verify_sha256(model_path, hashlib.sha256(model_bytes).hexdigest(), manifest.sha256, "load")
    _check_scikit_learn_version(manifest)
    try:
        import skops.io  # type: ignore[import-untyped]  # skops ships no type information
    except ImportError as error:
        raise ModelLoadError(
            f"{model_path} is a skops model but skops cannot be imported ({error}): deploy it with the model layer "
            f"built from this model directory (it adds layers/model/requirements-skops.txt), or "
            f"`pip install -r layers/model/requirements-skops.txt` to serve it locally",
            {"model_dir": str(model_path.parent), "format": "skops"},
        ) from error
    try:
        # Reading the file's object tree constructs nothing; skops.io.loads would refuse these types too, but
        # listing them here names exactly what is beyond the manifest's trust.
        needed = skops.io.get_untrusted_types(data=model_bytes)
        beyond = sorted(set(needed) - set(artifact.trusted_types))
        if beyond:
            raise ModelLoadError(
                f"Refusing to load {model_path}: it needs types that model.json does not trust: {beyond} "
                f"(trusted: {artifact.trusted_types}). Re-package the model with `sklambda package --format "
                f"skops` and review the types it lists",
                {"untrusted_types": beyond, "trusted_types": artifact.trusted_types},
            )
        return skops.io.loads(model_bytes, trusted=artifact.trusted_types)
    except ModelLoadError:
        raise
    except Exception as error:
        raise ModelLoadError(
            f"Could not load {model_path} with skops: {type(error).__name__}: {error}",
            {"model_dir": str(model_path.parent), "format": "skops"},
        ) from error
