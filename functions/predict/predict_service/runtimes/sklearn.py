"""The scikit-learn runtime: model.joblib (a pickle: its sha256 is checked before unpickling) or, for models
packaged with `--format skops`, model.skops, loaded by skops.io with exactly the types the manifest lists as
trusted. skops is imported only for such models: the default layer does not ship it."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any, Self

import joblib
import numpy as np
import sklearn

from ..errors import ModelLoadError
from ..fastpath import build_verified_fast_predictor
from ..manifest import ModelManifest, SkopsArtifact
from ..predictions import Predictions, ProbabilityMatrix, example_array
from .base import ModelRuntimeBase


class SklearnRuntime(ModelRuntimeBase):
    """A verified, warmed-up scikit-learn model plus everything per-request work needs, computed once."""

    name = "sklearn"

    def __init__(self, model: Any, manifest: ModelManifest) -> None:
        super().__init__(manifest)
        self.model = model
        # Models fitted on a DataFrame warn on every plain-array call although we already put the columns in
        # the manifest's order; silence just that warning, and only for those models.
        self.silence_feature_name_warning = manifest.fitted_with_feature_names
        # The shortcuts are for plain numeric tables of single-output models.
        self.fast = (
            build_verified_fast_predictor(model, example_array(manifest))
            if manifest.input_layout == "table"
            and self.rows.bulk_numeric
            and manifest.task in ("classification", "regression")
            else None
        )

    @classmethod
    def model_file_missing(cls, model_dir: Path, manifest: ModelManifest, model_file: str) -> ModelLoadError:
        return ModelLoadError.model_file_missing(
            model_dir,
            model_file,
            f"names format {manifest.format!r}",
            "`sklambda package MODEL.joblib` or `sklambda train`",
            format=manifest.format,
        )

    @classmethod
    def refused_action(cls, manifest: ModelManifest) -> str:
        return "load" if manifest.skops is not None else "unpickle"

    @classmethod
    def check_versions(cls, manifest: ModelManifest) -> None:
        # Both formats restore scikit-learn's private state as is (pickle and skops alike): only the version that
        # wrote it is known to read it back correctly.
        saved_with = manifest.versions.scikit_learn
        if saved_with != sklearn.__version__:
            raise ModelLoadError.version_mismatch(
                "scikit-learn",
                "saved with skops by" if manifest.format == "skops" else "pickled with",
                saved_with,
                sklearn.__version__,
                "retrain or re-package it",
                cls.spec().requirements,
            )

    @classmethod
    def from_bytes(cls, model_bytes: bytes, model_path: Path, manifest: ModelManifest) -> Self:
        if manifest.skops is not None:
            return cls(_load_skops(model_bytes, model_path, manifest.skops), manifest)
        try:
            model = joblib.load(io.BytesIO(model_bytes))
        except Exception as error:
            raise ModelLoadError.unreadable(model_path, "joblib", error) from error
        return cls(model, manifest)

    def predict(self, features: np.ndarray, with_probabilities: bool) -> Predictions:
        if self.silence_feature_name_warning:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="X does not have valid feature names")
                return super().predict(features, with_probabilities)
        return super().predict(features, with_probabilities)

    def raw_predict(
        self, features: np.ndarray, with_probabilities: bool
    ) -> tuple[np.ndarray, ProbabilityMatrix | None]:
        fast = self.fast
        with_probabilities = with_probabilities and self.manifest.has_predict_proba
        matrix: ProbabilityMatrix | None
        if fast is not None and (not with_probabilities or fast.has_predict_proba):
            labels = fast.predict(features)
            matrix = fast.predict_proba(features) if with_probabilities else None
        else:
            # Inputs were checked at the edge, so scikit-learn's finiteness and parameter checks are repeat work.
            with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
                labels = np.asarray(self.model.predict(features))
                matrix = self._probabilities(features) if with_probabilities else None
        return labels, matrix

    def _probabilities(self, features: np.ndarray) -> ProbabilityMatrix:
        answer = self.model.predict_proba(features)
        if self.manifest.task == "multioutput_classification":
            # scikit-learn's multi-output classifiers answer one matrix per output.
            return [np.asarray(output, dtype=np.float64) for output in answer]
        return np.asarray(answer, dtype=np.float64)


def _load_skops(model_bytes: bytes, model_path: Path, artifact: SkopsArtifact) -> Any:
    """The model in verified skops bytes, trusting exactly the manifest's list."""
    try:
        import skops.io  # type: ignore[import-untyped]  # skops ships no type information
    except ImportError as error:
        raise ModelLoadError.skops_missing(model_path, error) from error
    try:
        # Reading the file's object tree constructs nothing; skops.io.loads would refuse these types too, but
        # listing them here names exactly what is beyond the manifest's trust.
        beyond = sorted(set(skops.io.get_untrusted_types(data=model_bytes)) - set(artifact.trusted_types))
        if beyond:
            raise ModelLoadError.untrusted_types(model_path, beyond, artifact.trusted_types)
        return skops.io.loads(model_bytes, trusted=artifact.trusted_types)
    except ModelLoadError:
        raise
    except Exception as error:
        raise ModelLoadError.unreadable(model_path, "skops", error, format="skops") from error
