"""model.json: the contract between training (the `sklambda` CLI) and serving (the runtime)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ModelLoadError, describe_validation_error
from .runtimes import DEFAULT_RUNTIME, RUNTIMES, runtime_spec
from .runtimes import MODEL_FILENAME as MODEL_FILENAME
from .runtimes import ONNX_FILENAME as ONNX_FILENAME
from .runtimes import SKOPS_FILENAME as SKOPS_FILENAME

MANIFEST_FILENAME = "model.json"
# 2: feature_names and n_features are stored, not only derived from `features`. Version 1 manifests still load.
# 3: feature types (text, nullable, ranges), every task kind, the input layout, the DataFrame rewrite record, and
# the fields the other phase-2 additions describe. Versions 1 and 2 still load: the new fields take their defaults.
MANIFEST_SCHEMA_VERSION = 3

# What a skops file may never be trusted to reference, whatever the model: these run commands or code, or reach
# files, processes and the network, and a model calls what it references at predict time, on request data.
# A legitimate pipeline needs none of them (numpy and scikit-learn functions are what FunctionTransformer wraps).
# functools is not listed: skops records the function a partial wraps as a type of its own, checked here too.
DANGEROUS_MODULES = frozenset(
    {
        "os", "posix", "nt", "subprocess", "_posixsubprocess", "pty", "sys", "shutil", "socket", "ssl", "signal",
        "ctypes", "_ctypes", "cffi", "importlib", "runpy", "code", "codeop", "pickle", "_pickle", "marshal",
        "shelve", "dill", "cloudpickle", "joblib", "multiprocessing", "threading", "_thread", "asyncio",
        "concurrent", "webbrowser", "urllib", "http", "ftplib", "smtplib", "telnetlib", "requests", "httpx",
        "tempfile", "pathlib", "glob", "io", "_io", "fileinput", "gc", "inspect", "pdb", "bdb", "timeit",
        "types", "operator", "numpy.ctypeslib", "numpy.f2py", "numpy.distutils", "numpy.testing",
    }
)  # fmt: skip
DANGEROUS_NAMES = frozenset(
    {
        *(
            f"builtins.{name}"
            for name in (
                "eval", "exec", "compile", "__import__", "open", "getattr", "setattr", "delattr", "globals",
                "locals", "vars", "input", "breakpoint", "help", "exit", "quit", "__build_class__",
            )
        ),
        # Loaders that unpickle: the very thing the skops format exists to avoid.
        "numpy.load", "numpy.lib.npyio.load", "pandas.read_pickle", "scipy.io.loadmat",
    }
)  # fmt: skip

Label = int | float | str | bool
FeatureValue = float | int | str
FeatureType = Literal["number", "category", "text"]
TaskKind = Literal[
    "classification",
    "regression",
    "multioutput_classification",
    "multioutput_regression",
    "clustering",
    "outlier_detection",
]
InputLayout = Literal["table", "text"]


class FeatureSpec(BaseModel):
    """One input column: a number, a category with its known values, or a text; nullable when the model takes
    a missing value there."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: FeatureType = "number"
    # The known values: strings, or numbers when the encoder was fitted on numbers.
    categories: list[Label] | None = None
    # Values outside `categories` are accepted (the encoder ignores or groups them); they are counted as drift.
    accepts_unknown: bool = False
    # JSON null is accepted and reaches the model as NaN, the missing value a DataFrame-fitted model saw.
    nullable: bool = False
    # [min, max] seen in the training data, when known: values outside are counted as drift.
    range: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> FeatureSpec:
        if (self.type == "category") != (self.categories is not None):
            raise ValueError(f"feature {self.name!r}: categories are required for, and only for, type 'category'")
        if self.accepts_unknown and self.type != "category":
            raise ValueError(f"feature {self.name!r}: accepts_unknown is for type 'category' only")
        if self.range is not None:
            if self.type != "number":
                raise ValueError(f"feature {self.name!r}: range is for type 'number' only")
            if not self.range[0] <= self.range[1]:
                raise ValueError(f"feature {self.name!r}: range {list(self.range)} has its minimum above its maximum")
        if self.nullable and self.type == "text":
            raise ValueError(f"feature {self.name!r}: a text feature cannot be nullable")
        return self


class DataFrameRewrite(BaseModel):
    """How packaging turned a DataFrame-fitted model into one taking plain rows (sklambda.dataframe), and how the
    rewritten model was verified against the original."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rewritten_from_dataframe: bool
    # The array the rewritten model takes: float64 when every feature is a number, else object.
    input: Literal["float64", "object"]
    rows_verified: int
    methods_verified: list[str]
    tolerance: float


class LibraryVersions(BaseModel):
    """Exact versions of the stack that pickled the model; scikit-learn must match at load time."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    python: str
    scikit_learn: str = Field(alias="scikit-learn")
    numpy: str
    joblib: str
    # Recorded from schema 3 on: the layer installs the base stack at these versions.
    scipy: str | None = None


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


def dangerous_types(type_names: list[str]) -> list[str]:
    """The names in a skops trusted-types list that no model may be allowed to load (see DANGEROUS_MODULES)."""
    found = []
    for name in type_names:
        parts = name.split(".")
        prefixes = {".".join(parts[:end]) for end in range(1, len(parts))}
        if name in DANGEROUS_NAMES or prefixes & DANGEROUS_MODULES:
            found.append(name)
    return found


class SkopsArtifact(BaseModel):
    """model.skops (`sklambda package --format skops`): loaded with skops.io, never unpickled."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The skops that wrote the file (informational: skops reads the files of its earlier versions).
    skops: str
    # The types beyond skops' own defaults (scikit-learn estimators, numpy, built-in containers) that the file
    # needs, as listed by skops.io.get_untrusted_types at packaging and shown to the user there. Loading trusts
    # exactly these and refuses a file that needs anything else.
    trusted_types: list[str]

    @model_validator(mode="after")
    def _nothing_dangerous(self) -> SkopsArtifact:
        # Checked on read as well as at packaging: a hand-edited manifest must not widen the trust either.
        dangerous = dangerous_types(self.trusted_types)
        if dangerous:
            raise ValueError(f"trusted_types lists {dangerous}, which can run code or reach the system")
        return self


class Lineage(BaseModel):
    """Where a model packaged from MLflow came from. Served publicly by GET /model, so it names the source and the
    registry entry only: never a tracking server URI or an artifact location (they may carry hosts or credentials)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The MLflow source as given (runs:/..., models:/...), or the model directory's name.
    source: str
    run_id: str | None = None
    # MLflow 3's logged-model id (m-...).
    model_id: str | None = None
    registry_name: str | None = None
    registry_version: str | None = None
    # The alias the registry version was resolved from (models:/NAME@ALIAS).
    registry_alias: str | None = None
    # The run's logged metrics, latest value of each.
    metrics: dict[str, float] = Field(default_factory=dict)


class ShippedFile(NamedTuple):
    """The one model file a model directory ships, the sha256 its manifest records for it, and where."""

    name: str
    sha256: str
    sha256_field: str


def _feature_name(feature: object) -> object:
    if isinstance(feature, FeatureSpec):
        return feature.name
    return feature.get("name") if isinstance(feature, dict) else None


class ModelManifest(BaseModel):
    """Everything a caller (and the runtime) needs to know about a packaged model. Holds no filesystem paths."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_version: int = MANIFEST_SCHEMA_VERSION
    name: str
    version: str
    created_at: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    estimator: str
    task: TaskKind
    features: list[FeatureSpec] = Field(min_length=1)
    # The column order and width rows must have; both restate `features` and must agree with it.
    feature_names: list[str]
    n_features: int
    # Classification: the labels; multioutput_classification: one list of labels per output.
    classes: list[Label] | list[list[Label]] | None = None
    class_names: list[str] | None = None
    # Multi-output tasks: the output (target) names, one per output.
    outputs: list[str] | None = None
    # "text": the model takes a 1-D array of strings (its one feature is a text); "table": a 2-D array in feature
    # order, float64 when every feature is a number, else object with NaN for null (sklambda.dataframe.rows_to_array).
    input_layout: InputLayout = "table"
    has_predict_proba: bool = False
    fitted_with_feature_names: bool = False
    example: list[FeatureValue | None]
    versions: LibraryVersions
    metrics: dict[str, float] = Field(default_factory=dict)
    # Which runtime serves the model: a name in runtimes.RUNTIMES (sklearn: model.joblib; onnx: model.onnx,
    # described by `onnx`).
    runtime: str = DEFAULT_RUNTIME
    onnx: OnnxArtifact | None = None
    # The file the scikit-learn runtime loads (and `sha256` describes): model.joblib (a pickle), or model.skops
    # (skops.io, described by `skops`). The ONNX runtime ships model.onnx instead, so it takes no format.
    format: Literal["joblib", "skops"] = "joblib"
    skops: SkopsArtifact | None = None
    # The size in bytes of the model file the directory ships (the one `shipped_file` names), recorded at packaging:
    # what a MODEL_S3_URI model needs in MODEL_CACHE_DIR, checked before downloading. None in older manifests.
    model_bytes: int | None = Field(default=None, ge=0)
    # Distributions beyond the runtime's base stack that the model needs, name -> exact version as installed when
    # packaging (e.g. {"xgboost": "3.2.0"}): the layer installs them, the runtime checks them at load.
    requirements: dict[str, str] = Field(default_factory=dict)
    # The user's own code shipped in the model directory: path relative to it (under code/) -> sha256; verified
    # before unpickling, and code/ goes on sys.path.
    code: dict[str, str] = Field(default_factory=dict)
    # Present when packaging rewrote a DataFrame-fitted model to take plain rows.
    dataframe: DataFrameRewrite | None = None
    # Packaged from MLflow: the run and registry entry the model came from.
    lineage: Lineage | None = None

    @model_validator(mode="before")
    @classmethod
    def _derive_feature_index(cls, data: Any) -> Any:
        """Schema 1 manifests (written before feature_names and n_features were stored) keep loading: the two
        are derived from `features`. From schema 2 on they are required, so dropping one is an error."""
        if not isinstance(data, dict) or data.get("schema_version", MANIFEST_SCHEMA_VERSION) != 1:
            return data
        features = data.get("features")
        if not isinstance(features, list):
            return data
        names = [_feature_name(feature) for feature in features]
        if not all(isinstance(name, str) for name in names):
            return data  # field validation reports the broken feature
        return {"feature_names": names, "n_features": len(names), **data}

    @field_validator("runtime")
    @classmethod
    def _known_runtime(cls, runtime: str) -> str:
        runtime_spec(runtime)
        return runtime

    @property
    def model_filename(self) -> str:
        """The file the scikit-learn runtime loads."""
        return SKOPS_FILENAME if self.format == "skops" else MODEL_FILENAME

    def shipped_file(self) -> ShippedFile:
        """The model file this directory ships to Lambda, as its runtime's entry says: model.onnx for the ONNX
        runtime (whose sha256 is `onnx.sha256`; `sha256` stays that of the model.joblib it was exported from), else
        `model_filename`."""
        return runtime_spec(self.runtime).shipped_file(self)

    @model_validator(mode="after")
    def _consistent(self) -> ModelManifest:
        if not 1 <= self.schema_version <= MANIFEST_SCHEMA_VERSION:
            raise ValueError(
                f"schema_version {self.schema_version} is not one this sklambda reads (1 to "
                f"{MANIFEST_SCHEMA_VERSION}); package the model with the sklambda version that serves it"
            )
        names = [feature.name for feature in self.features]
        if self.feature_names != names:
            raise ValueError(f"feature_names {self.feature_names} do not match the names in features {names}")
        if self.n_features != len(names):
            raise ValueError(f"n_features is {self.n_features} but features lists {len(names)}")
        if len(set(names)) != len(names):
            raise ValueError("feature names must be unique")
        if len(self.example) != len(names):
            raise ValueError(f"example has {len(self.example)} values but there are {len(names)} features")
        for feature, value in zip(self.features, self.example, strict=True):
            if value is None and not feature.nullable:
                raise ValueError(f"example has null for {feature.name!r}, which is not nullable")
        self._consistent_task()
        self._consistent_layout()
        spec = runtime_spec(self.runtime)
        if self.format not in spec.formats:
            serving = [other.title for other in RUNTIMES.values() if self.format in other.formats]
            raise ValueError(
                f"format {self.format!r} is the {', '.join(serving)} runtime's file; runtime {self.runtime!r} ships "
                f"{' or '.join(spec.model_files)}"
            )
        for other in RUNTIMES.values():
            if other.section is not None and (self.runtime == other.name) != (getattr(self, other.section) is not None):
                raise ValueError(f"the {other.section} section is required for, and only for, runtime {other.name!r}")
        if (self.format == "skops") != (self.skops is not None):
            raise ValueError("the skops section is required for, and only for, format 'skops'")
        return self

    def _consistent_task(self) -> None:
        classes = self.classes or []
        nested = [isinstance(labels, list) for labels in classes]
        if self.task == "classification" and (not classes or any(nested)):
            raise ValueError("a classification model must list its classes (one flat list)")
        if self.task == "multioutput_classification":
            if not classes or not all(nested) or not all(classes):
                raise ValueError("a multioutput_classification model must list its classes, one list per output")
            if self.outputs is not None and len(self.outputs) != len(classes):
                raise ValueError(f"outputs names {len(self.outputs)} outputs but classes has {len(classes)} lists")
        if self.task not in ("classification", "multioutput_classification") and (classes or self.has_predict_proba):
            raise ValueError(f"a {self.task} model has no classes and no predict_proba")
        if self.task.startswith("multioutput_") != (self.outputs is not None):
            raise ValueError("outputs is required for, and only for, the multioutput tasks")
        if self.outputs is not None and len(self.outputs) < 2:
            raise ValueError("a multioutput model has at least two outputs")
        if self.class_names is not None and (self.task != "classification" or len(self.class_names) != len(classes)):
            raise ValueError("class_names must have one name per class of a classification model")

    def _consistent_layout(self) -> None:
        if self.input_layout == "text" and [feature.type for feature in self.features] != ["text"]:
            raise ValueError("input_layout 'text' is for a model whose one feature is a text")

    def public(self) -> dict[str, object]:
        """The manifest as served by GET /model: what a front end needs to build a form."""
        return self.model_dump(mode="json", by_alias=True)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(model_dir: Path) -> ModelManifest:
    path = model_dir / MANIFEST_FILENAME
    if not path.is_file():
        raise ModelLoadError.manifest_missing(model_dir, MANIFEST_FILENAME)
    try:
        return ModelManifest.model_validate_json(path.read_bytes())
    except ValueError as error:
        raise ModelLoadError.manifest_invalid(path, manifest_problems(error)) from error


def manifest_problems(error: ValueError) -> str:
    """What is wrong with a manifest, on one line (pydantic's report echoes the entire manifest)."""
    return describe_validation_error(error) if isinstance(error, ValidationError) else str(error)


def write_manifest(model_dir: Path, manifest: ModelManifest) -> Path:
    path = model_dir / MANIFEST_FILENAME
    path.write_text(manifest.model_dump_json(by_alias=True, indent=2) + "\n", encoding="utf-8")
    return path
