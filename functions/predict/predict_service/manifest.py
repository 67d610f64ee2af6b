"""model.json: the contract between training (the `sklambda` CLI) and serving (the runtime)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .errors import ModelLoadError

MODEL_FILENAME = "model.joblib"
ONNX_FILENAME = "model.onnx"
MANIFEST_FILENAME = "model.json"
MANIFEST_SCHEMA_VERSION = 1

Label = int | float | str | bool
FeatureValue = float | int | str


class FeatureSpec(BaseModel):
    """One input column: numeric, or categorical with its allowed values."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: Literal["number", "category"] = "number"
    categories: list[str] | None = None

    @model_validator(mode="after")
    def _categories_iff_category(self) -> FeatureSpec:
        if (self.type == "category") != (self.categories is not None):
            raise ValueError(f"feature {self.name!r}: categories are required for, and only for, type 'category'")
        return self


class LibraryVersions(BaseModel):
    """Exact versions of the stack that pickled the model; scikit-learn must match at load time."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    python: str
    scikit_learn: str = Field(alias="scikit-learn")
    numpy: str
    joblib: str


class OnnxVerification(BaseModel):
    """How the ONNX graph compared with the scikit-learn model at packaging time (see sklambda.onnx_export)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rows: int
    label_mismatches: int
    # Classifiers with predict_proba: the largest absolute probability difference over all rows and classes.
    max_probability_difference: float | None = None
    # Regressors: the largest absolute difference between the predicted values.
    max_prediction_difference: float | None = None


class OnnxArtifact(BaseModel):
    """model.onnx: what it was checked against, and by which onnxruntime (the one that must serve it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    onnxruntime: str
    skl2onnx: str
    # The float type the graph computes in: float64 where the converters allow it, else float32.
    precision: Literal["float64", "float32"]
    verification: OnnxVerification


class ModelManifest(BaseModel):
    """Everything a caller (and the runtime) needs to know about a packaged model. Holds no filesystem paths."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_version: int = MANIFEST_SCHEMA_VERSION
    name: str
    version: str
    created_at: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    estimator: str
    task: Literal["classification", "regression"]
    features: list[FeatureSpec] = Field(min_length=1)
    classes: list[Label] | None = None
    class_names: list[str] | None = None
    has_predict_proba: bool = False
    fitted_with_feature_names: bool = False
    example: list[FeatureValue]
    versions: LibraryVersions
    metrics: dict[str, float] = Field(default_factory=dict)
    # Which runtime serves the model: scikit-learn (model.joblib) or onnxruntime (model.onnx, described by `onnx`).
    runtime: Literal["sklearn", "onnx"] = "sklearn"
    onnx: OnnxArtifact | None = None

    @property
    def feature_names(self) -> list[str]:
        return [feature.name for feature in self.features]

    @property
    def n_features(self) -> int:
        return len(self.features)

    @model_validator(mode="after")
    def _consistent(self) -> ModelManifest:
        names = self.feature_names
        if len(set(names)) != len(names):
            raise ValueError("feature names must be unique")
        if len(self.example) != len(names):
            raise ValueError(f"example has {len(self.example)} values but there are {len(names)} features")
        if self.task == "classification" and not self.classes:
            raise ValueError("a classification model must list its classes")
        if self.task == "regression" and (self.classes or self.has_predict_proba):
            raise ValueError("a regression model has no classes and no predict_proba")
        if self.class_names is not None and len(self.class_names) != len(self.classes or []):
            raise ValueError("class_names must have one name per class")
        if (self.runtime == "onnx") != (self.onnx is not None):
            raise ValueError("the onnx section is required for, and only for, runtime 'onnx'")
        return self

    def public(self) -> dict[str, object]:
        """The manifest as served by GET /model: what a front end needs to build a form."""
        body = self.model_dump(mode="json", by_alias=True)
        body["feature_names"] = self.feature_names
        body["n_features"] = self.n_features
        return body


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(model_dir: Path) -> ModelManifest:
    path = model_dir / MANIFEST_FILENAME
    if not path.is_file():
        raise ModelLoadError(
            f"No {MANIFEST_FILENAME} in {model_dir}: build a model directory with `sklambda train` "
            f"or `sklambda package MODEL.joblib`",
            {"model_dir": str(model_dir)},
        )
    try:
        return ModelManifest.model_validate_json(path.read_bytes())
    except ValueError as error:
        raise ModelLoadError(
            f"{path} is not a valid sklambda manifest ({error}); re-create it with `sklambda package`",
            {"manifest": str(path)},
        ) from error


def write_manifest(model_dir: Path, manifest: ModelManifest) -> Path:
    path = model_dir / MANIFEST_FILENAME
    path.write_text(manifest.model_dump_json(by_alias=True, indent=2) + "\n", encoding="utf-8")
    return path
