"""Resolve an MLflow model (a model directory, runs:/, models:/) into what packaging needs.

MLflow is a packaging-time tool: this module imports it only inside its functions, so `import sklambda.cli`
and everything the function or the layer runs stay free of it. The one entry point is `resolve_mlflow_source`;
`is_mlflow_source` tells the CLI, without importing MLflow, whether a SOURCE argument is meant for it.

Accepted sources:
- a directory holding an `MLmodel` file (what `mlflow.sklearn.save_model` writes, or a downloaded artifact);
- `runs:/<run_id>/<artifact_path>`;
- `models:/<name>/<version>`, `models:/<name>/latest` and `models:/<name>@<alias>` (the model registry);
- `models:/<model_id>` (an MLflow 3 logged model, what `log_model` returns as `model_uri`).
"""

from __future__ import annotations

import math
import os
import pickle
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from predict_service.manifest import dangerous_types

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.models import Model

SerializationFormat = Literal["skops", "cloudpickle", "pickle"]
FeatureType = Literal["number", "category"]

MLMODEL_FILENAME = "MLmodel"
SKLEARN_FLAVOR = "sklearn"
TRACKING_URI_VARIABLE = "MLFLOW_TRACKING_URI"
REGISTRY_URI_VARIABLE = "MLFLOW_REGISTRY_URI"
LATEST = "latest"
SERIALIZATION_FORMATS: dict[str, SerializationFormat] = {
    "skops": "skops",
    "cloudpickle": "cloudpickle",
    "pickle": "pickle",
}
SOURCE_FORMS = (
    "a directory with an MLmodel file, runs:/<run_id>/<path>, models:/<name>/<version>, models:/<name>/latest, "
    "models:/<name>@<alias> or models:/<model_id>"
)

# MLflow's HTTP client retries 7 times with exponential backoff and waits 120 s per request by default: minutes
# before an unreachable tracking server is reported. A packaging command should say so within seconds. These are
# defaults only: a user's own MLFLOW_HTTP_REQUEST_* settings win.
DEFAULT_HTTP_TIMEOUT_SECONDS = 10
DEFAULT_HTTP_MAX_RETRIES = 1
HTTP_CLIENT_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": DEFAULT_HTTP_TIMEOUT_SECONDS,
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": DEFAULT_HTTP_MAX_RETRIES,
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": 1,
}

# MLflow column types (mlflow.types.DataType) that a JSON request can carry to the model, and what the service
# calls them. Booleans arrive as numbers (0/1): scikit-learn treats a bool column as numeric.
NUMBER_TYPES = frozenset({"integer", "long", "float", "double", "boolean"})
CATEGORY_TYPES = frozenset({"string"})

RUN_URI = re.compile(r"^runs:/(?P<run_id>[^/]+)/(?P<path>.+?)/?$")
REGISTRY_VERSION_URI = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>[^/]+)/?$")
REGISTRY_ALIAS_URI = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/]+)/?$")
LOGGED_MODEL_URI = re.compile(r"^models:/(?P<model_id>m-[0-9a-f]+)/?$")


class SourceError(Exception):
    """An MLflow source that cannot be packaged; the message is one line saying what is wrong and what to do."""

    def __init__(self, message: str) -> None:
        # Messages quote MLflow's, skops' and pickle's errors, which may span lines; the CLI prints one.
        one_line = " ".join(message.split())
        super().__init__(one_line)
        self.message = one_line


@dataclass(frozen=True)
class SignatureFeature:
    """One input column of the model's MLflow signature."""

    name: str
    # "category" for string columns, "number" for numeric and boolean ones.
    type: FeatureType
    # The signature marks the column optional (`required: false`): a request may leave it out or send null.
    nullable: bool
    # The column's type as MLflow recorded it (long, double, string, ...), for messages and lineage.
    mlflow_type: str


@dataclass(frozen=True)
class ModelRequirements:
    """The environment MLflow recorded next to the model (requirements.txt, constraints.txt, python_env.yaml, or
    conda.yaml's pip section for models saved without requirements.txt)."""

    pip: list[str]
    constraints: list[str]
    python: str | None

    def pins(self) -> dict[str, str]:
        """Exact pins (`name==version`) by canonical project name; other lines (ranges, URLs) are left out."""
        from packaging.requirements import InvalidRequirement, Requirement
        from packaging.utils import canonicalize_name

        pinned: dict[str, str] = {}
        for line in [*self.pip, *self.constraints]:
            try:
                requirement = Requirement(line)
            except InvalidRequirement:
                continue
            exact = [spec.version for spec in requirement.specifier if spec.operator in ("==", "===")]
            if len(exact) == 1:
                pinned[canonicalize_name(requirement.name)] = exact[0]
        return pinned


@dataclass(frozen=True)
class RegistryEntry:
    """The registered model version a `models:/` source resolved to."""

    name: str
    version: str
    # The alias the version was resolved from (`models:/<name>@<alias>`), None for an explicit version.
    alias: str | None


@dataclass(frozen=True)
class Lineage:
    """Where the model came from."""

    # The source as given (a directory as its absolute path).
    source_uri: str
    # Where MLflow keeps the model's files (a registry version's source, the run's artifact URI, the directory).
    artifact_uri: str
    # The tracking store the source was resolved against; None for a directory (no tracking lookup is made).
    tracking_uri: str | None
    run_id: str | None
    # MLflow 3's logged-model id (`m-...`), when MLflow recorded one.
    model_id: str | None
    # The run's logged metrics (latest value of each); empty when there is no run to ask.
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class MlflowModel:
    """An sklearn-flavor MLflow model, loaded, with everything MLflow recorded about it."""

    estimator: Any
    serialization_format: SerializationFormat
    # skops only: the types MLflow recorded as trusted (`skops_trusted_types` in MLmodel; [] when it recorded
    # none, i.e. skops' defaults suffice); None for pickle and cloudpickle.
    skops_trusted_types: list[str] | None
    # From the signature's inputs, in order; None when the model was saved without a signature.
    features: list[SignatureFeature] | None
    # The input example as rows of JSON values keyed by feature name; None when saved without one.
    example: list[dict[str, Any]] | None
    requirements: ModelRequirements
    # The scikit-learn and MLflow versions that saved the model, as MLmodel records them.
    sklearn_version: str | None
    mlflow_version: str | None
    registry: RegistryEntry | None
    lineage: Lineage


def is_mlflow_source(source: str) -> bool:
    """Whether the CLI should hand SOURCE to `resolve_mlflow_source` (no MLflow import here)."""
    return source.startswith(("runs:/", "models:/")) or Path(source).is_dir()


def resolve_mlflow_source(source: str, *, tracking_uri: str | None = None) -> MlflowModel:
    """Load the sklearn-flavor MLflow model SOURCE names, with its signature, example, requirements and lineage.

    runs:/ and models:/ sources are looked up with MLflow's client against tracking_uri, else MLFLOW_TRACKING_URI
    (the registry: MLFLOW_REGISTRY_URI, else the same store). Raises SourceError with a one-line message."""
    if source.startswith(("runs:/", "models:/")):
        return _resolve_tracked(source, _tracking_uri(source, tracking_uri))
    directory = Path(source)
    if not directory.is_dir():
        raise SourceError(f"{source} is not an MLflow model source: give {SOURCE_FORMS}")
    directory = directory.resolve()
    mlmodel = _read_mlmodel(directory, described_as=str(directory))
    return _load(
        directory,
        mlmodel,
        registry=None,
        lineage=Lineage(
            source_uri=str(directory),
            artifact_uri=str(directory),
            tracking_uri=None,
            run_id=mlmodel.run_id,
            model_id=getattr(mlmodel, "model_id", None),
        ),
    )


def _tracking_uri(source: str, given: str | None) -> str:
    uri = given or os.environ.get(TRACKING_URI_VARIABLE)
    if not uri:
        # MLflow would fall back to ./mlruns or create ./mlflow.db: a registry lookup there finds nothing and leaves
        # a database behind, so ask for the store instead.
        raise SourceError(
            f"{source} is looked up in an MLflow tracking store, and {TRACKING_URI_VARIABLE} is not set: set it to "
            f"the tracking server or store (e.g. http://localhost:5000 or sqlite:///mlflow.db)"
        )
    return uri


@contextmanager
def _http_client_defaults() -> Iterator[None]:
    """Apply HTTP_CLIENT_DEFAULTS for the variables the user left unset, and restore the environment after."""
    added = [name for name in HTTP_CLIENT_DEFAULTS if name not in os.environ]
    for name in added:
        os.environ[name] = str(HTTP_CLIENT_DEFAULTS[name])
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def _resolve_tracked(source: str, tracking_uri: str) -> MlflowModel:
    from mlflow import MlflowClient

    registry_uri = os.environ.get(REGISTRY_URI_VARIABLE) or tracking_uri
    with _http_client_defaults():
        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)
        registry: RegistryEntry | None = None
        if run_match := RUN_URI.match(source):
            run_id = run_match["run_id"]
            metrics = _run_metrics(client, run_id, tracking_uri, required=True)
            download_uri = artifact_uri = source
            model_id = None
        elif logged_match := LOGGED_MODEL_URI.match(source):
            model_id = logged_match["model_id"]
            logged = _call(
                lambda: client.get_logged_model(model_id),
                tracking_uri,
                not_found=f"no logged model {model_id} in the tracking store at {tracking_uri}",
            )
            run_id = logged.source_run_id
            metrics = _run_metrics(client, run_id, tracking_uri, required=False) if run_id else {}
            download_uri = source
            artifact_uri = logged.artifact_location
        elif registry_match := (REGISTRY_ALIAS_URI.match(source) or REGISTRY_VERSION_URI.match(source)):
            name, alias = registry_match["name"], registry_match.groupdict().get("alias")
            requested = registry_match.groupdict().get("version")
            if requested is not None and not (requested.isdigit() or requested.lower() == LATEST):
                raise SourceError(
                    f"{source}: {requested!r} is not a version number; give models:/{name}/<version>, "
                    f"models:/{name}/latest or models:/{name}@<alias> (registry stages are not supported)"
                )
            version = _registry_version(client, registry_uri, name, alias=alias, number=requested)
            registry = RegistryEntry(name=version.name, version=str(version.version), alias=alias)
            run_id = version.run_id
            model_id = getattr(version, "model_id", None)
            metrics = _run_metrics(client, run_id, tracking_uri, required=False) if run_id else {}
            # Download the version the alias pointed to when it was read, not whatever it points to a moment later.
            download_uri = f"models:/{registry.name}/{registry.version}"
            artifact_uri = version.source
        else:
            raise SourceError(f"{source} is not an MLflow model URI: give {SOURCE_FORMS}")

        staging = Path(tempfile.mkdtemp(prefix="sklambda-mlflow-"))
        try:
            local = _download(download_uri, staging, tracking_uri, registry_uri, source)
            mlmodel = _read_mlmodel(local, described_as=source)
            return _load(
                local,
                mlmodel,
                registry=registry,
                lineage=Lineage(
                    source_uri=source,
                    artifact_uri=artifact_uri,
                    tracking_uri=tracking_uri,
                    run_id=run_id or mlmodel.run_id,
                    model_id=model_id or getattr(mlmodel, "model_id", None),
                    metrics=metrics,
                ),
            )
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _registry_version(
    client: MlflowClient, registry_uri: str, name: str, *, alias: str | None, number: str | None
) -> Any:
    """The registered model version `models:/<name>@<alias>` or `models:/<name>/<number>` names."""
    registered = _call(
        lambda: client.get_registered_model(name),
        registry_uri,
        not_found=f"no registered model {name!r} in the registry at {registry_uri}; check the name and "
        f"{TRACKING_URI_VARIABLE}",
    )
    if alias is not None:
        known = ", ".join(sorted(registered.aliases)) or "none"
        return _call(
            lambda: client.get_model_version_by_alias(name, alias),
            registry_uri,
            # MLflow's file and SQL registry stores (and so a tracking server in front of them) answer an unknown
            # alias with INVALID_PARAMETER_VALUE; the model exists (checked above), so either code means the alias.
            not_found=f"registered model {name!r} has no alias {alias!r} (its aliases: {known})",
            not_found_codes=("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"),
        )
    if number is None:
        raise ValueError("a registry source names an alias or a version number")
    if number.lower() == LATEST:
        # What MLflow's own models:/<name>/latest means: the highest version number, whatever its stage.
        # search_model_versions rather than get_latest_versions, which MLflow deprecates along with stages.
        # MLflow's filter strings have no escapes: a name with a single quote goes in double quotes.
        quote = '"' if "'" in name else "'"
        latest = _call(
            lambda: client.search_model_versions(f"name = {quote}{name}{quote}"),
            registry_uri,
            not_found=f"no registered model {name!r} in the registry at {registry_uri}",
        )
        if not latest:
            raise SourceError(f"registered model {name!r} has no versions yet; register one first")
        number = str(max(int(version.version) for version in latest))
    return _call(
        lambda: client.get_model_version(name, number),
        registry_uri,
        not_found=f"registered model {name!r} has no version {number}",
    )


def _call(
    request: Any,
    store_uri: str,
    *,
    not_found: str,
    not_found_codes: tuple[str, ...] = ("RESOURCE_DOES_NOT_EXIST",),
) -> Any:
    """Run one MLflow client request, turning its failures into one-line SourceErrors: not_found when the store
    answers with one of not_found_codes, else what went wrong with the store."""
    from mlflow.exceptions import MlflowException

    try:
        return request()
    except MlflowException as error:
        if error.error_code in not_found_codes:
            raise SourceError(not_found) from None
        raise _client_failure(error, store_uri) from None


def _client_failure(error: Exception, store_uri: str) -> SourceError:
    import requests

    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, requests.exceptions.RequestException):
            return SourceError(
                f"cannot reach the MLflow tracking server at {store_uri} ({_http_failure(cause)}); check that it is "
                f"running and that {TRACKING_URI_VARIABLE} names it"
            )
        cause = cause.__cause__ or cause.__context__
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return SourceError(f"MLflow could not read the store at {store_uri}: {first_line}")


def _http_failure(error: BaseException) -> str:
    """What went wrong with a request, in words: requests wraps urllib3's reason in a ConnectionError once its
    retries are spent, whether the connection was refused or the server never answered."""
    import requests
    import urllib3.exceptions

    reason = error.args[0] if error.args else None
    reason = getattr(reason, "reason", reason)
    # NewConnectionError subclasses urllib3's ConnectTimeoutError: check it first.
    if isinstance(reason, urllib3.exceptions.NewConnectionError):
        return "connection refused or host unknown"
    if isinstance(error, requests.exceptions.Timeout) or isinstance(reason, urllib3.exceptions.TimeoutError):
        return f"no answer within {os.environ.get('MLFLOW_HTTP_REQUEST_TIMEOUT', DEFAULT_HTTP_TIMEOUT_SECONDS)} s"
    return type(reason if isinstance(reason, BaseException) else error).__name__


def _run_metrics(client: MlflowClient, run_id: str, tracking_uri: str, *, required: bool) -> dict[str, float]:
    """The run's logged metrics. required: the run is the source itself, so a missing one is the user's error;
    otherwise (a registry version whose run was deleted) the model is still there and lineage keeps the run id."""
    from mlflow.exceptions import MlflowException

    if required:
        run = _call(
            lambda: client.get_run(run_id),
            tracking_uri,
            not_found=f"no run {run_id} in the tracking store at {tracking_uri}",
        )
    else:
        try:
            run = client.get_run(run_id)
        except MlflowException as error:
            if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                return {}
            raise _client_failure(error, tracking_uri) from None
    return {name: float(value) for name, value in sorted(run.data.metrics.items())}


def _download(uri: str, destination: Path, tracking_uri: str, registry_uri: str, source: str) -> Path:
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    try:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=uri, dst_path=str(destination), tracking_uri=tracking_uri, registry_uri=registry_uri
        )
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise SourceError(f"{source} names no model: MLflow finds nothing at {uri}") from None
        raise _client_failure(error, tracking_uri) from None
    except OSError as error:
        raise SourceError(f"{source} names no model: MLflow finds nothing at {uri} ({error.strerror})") from None
    path = Path(local)
    if not path.is_dir():
        raise SourceError(f"{source} is a file, not an MLflow model directory: give the model's artifact path")
    return path


def _read_mlmodel(directory: Path, *, described_as: str) -> Model:
    from mlflow.models import Model

    mlmodel_path = directory / MLMODEL_FILENAME
    if not mlmodel_path.is_file():
        raise SourceError(
            f"{described_as} has no {MLMODEL_FILENAME} file, so it is not an MLflow model; give the directory "
            f"mlflow.sklearn.save_model wrote (or a joblib file)"
        )
    try:
        mlmodel = Model.load(str(mlmodel_path))
    except Exception as error:
        raise SourceError(
            f"{described_as}: {MLMODEL_FILENAME} does not parse: {type(error).__name__}: {error}"
        ) from None
    if SKLEARN_FLAVOR not in mlmodel.flavors:
        flavors = ", ".join(sorted(mlmodel.flavors)) or "none"
        raise SourceError(
            f"{described_as} is an MLflow model without the sklearn flavor (flavors: {flavors}); sklambda serves "
            f"scikit-learn models logged with mlflow.sklearn"
        )
    return mlmodel


def _load(directory: Path, mlmodel: Model, *, registry: RegistryEntry | None, lineage: Lineage) -> MlflowModel:
    flavor: Mapping[str, Any] = mlmodel.flavors[SKLEARN_FLAVOR]
    # MLflow wrote "pickle" before it recorded the format at all, and still reads a missing key that way.
    recorded_format = flavor.get("serialization_format") or "pickle"
    serialization_format = SERIALIZATION_FORMATS.get(recorded_format)
    if serialization_format is None:
        raise SourceError(
            f"{lineage.source_uri}: unknown serialization format {recorded_format!r} in {MLMODEL_FILENAME}; "
            f"sklambda reads skops, cloudpickle and pickle"
        )
    model_file = directory / str(flavor.get("pickled_model", ""))
    if not flavor.get("pickled_model") or not model_file.is_file():
        raise SourceError(
            f"{lineage.source_uri}: the model file {flavor.get('pickled_model')!r} named in {MLMODEL_FILENAME} "
            f"is missing"
        )
    trusted = list(flavor.get("skops_trusted_types") or []) if serialization_format == "skops" else None
    estimator = _load_estimator(model_file, serialization_format, trusted, lineage.source_uri)
    features = _signature_features(mlmodel, lineage.source_uri)
    return MlflowModel(
        estimator=estimator,
        serialization_format=serialization_format,
        skops_trusted_types=trusted,
        features=features,
        example=_example_rows(mlmodel, directory, features, lineage.source_uri),
        requirements=_requirements(directory),
        sklearn_version=flavor.get("sklearn_version"),
        mlflow_version=getattr(mlmodel, "mlflow_version", None),
        registry=registry,
        lineage=lineage,
    )


def _load_estimator(path: Path, serialization_format: str, trusted: list[str] | None, source: str) -> Any:
    """Load the model as MLflow saved it: skops with exactly the types MLflow recorded as trusted, else
    (cloud)pickle. Unpickling runs the file's code: the user vouches for the source by packaging it, as for a
    joblib file, so MLflow's own MLFLOW_ALLOW_PICKLE_DESERIALIZATION gate is not consulted."""
    if serialization_format == "skops":
        import skops.io  # type: ignore[import-untyped]  # skops ships no type information
        from skops.io.exceptions import UntrustedTypesFoundException  # type: ignore[import-untyped]

        dangerous = dangerous_types(trusted or [])
        if dangerous:
            raise SourceError(
                f"{source}: {MLMODEL_FILENAME} trusts {dangerous} for skops, which can run code or reach files, "
                f"processes or the network when the model predicts; refusing to load it"
            )
        try:
            return skops.io.load(path, trusted=trusted or None)
        except UntrustedTypesFoundException as error:
            raise SourceError(
                f"{source}: {path.name} needs skops types that {MLMODEL_FILENAME} does not trust ({error}); "
                f"log the model again with skops_trusted_types listing them"
            ) from None
        except Exception as error:
            raise SourceError(
                f"{source}: {path.name} does not load with skops: {type(error).__name__}: {error}"
            ) from None
    try:
        with path.open("rb") as handle:
            if serialization_format == "cloudpickle":
                import cloudpickle

                return cloudpickle.load(handle)
            return pickle.load(handle)
    except Exception as error:
        raise SourceError(
            f"{source}: {path.name} does not load with {serialization_format}: {type(error).__name__}: {error}; "
            f"check that the installed scikit-learn matches the one that saved it"
        ) from None


def _signature_features(mlmodel: Model, source: str) -> list[SignatureFeature] | None:
    signature = mlmodel.signature
    if signature is None or signature.inputs is None:
        return None
    inputs = signature.inputs
    if inputs.is_tensor_spec():
        # An array-fed model: one tensor of shape (-1, n) is n numeric columns, named as packaging names unnamed
        # columns (f0..fN-1).
        specs = inputs.inputs
        shape = specs[0].shape if len(specs) == 1 else None
        if shape is None or len(shape) != 2 or shape[1] is None or shape[1] < 0:
            raise SourceError(
                f"{source}: the signature's input is a tensor of shape {shape}, not a table of rows; sklambda "
                f"serves models fed rows of named or numbered columns"
            )
        dtype = specs[0].type
        if dtype.kind not in "biuf":
            raise SourceError(f"{source}: the signature's input tensor holds {dtype}, not numbers")
        return [
            SignatureFeature(name=f"f{index}", type="number", nullable=False, mlflow_type=str(dtype))
            for index in range(shape[1])
        ]
    features = []
    for index, column in enumerate(inputs.inputs):
        name = column.name if column.name is not None else f"f{index}"
        mlflow_type = getattr(column.type, "name", None) or str(column.type)
        feature_type: FeatureType
        if mlflow_type in CATEGORY_TYPES:
            feature_type = "category"
        elif mlflow_type in NUMBER_TYPES:
            feature_type = "number"
        else:
            raise SourceError(
                f"{source}: signature column {name!r} has MLflow type {column.type}; sklambda serves number and "
                f"string columns only"
            )
        features.append(
            SignatureFeature(name=name, type=feature_type, nullable=not column.required, mlflow_type=mlflow_type)
        )
    return features


def _json_value(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _example_rows(
    mlmodel: Model, directory: Path, features: list[SignatureFeature] | None, source: str
) -> list[dict[str, Any]] | None:
    if mlmodel.saved_input_example_info is None:
        return None
    try:
        example = mlmodel.load_input_example(str(directory))
    except Exception as error:
        raise SourceError(f"{source}: the input example does not load: {type(error).__name__}: {error}") from None
    if example is None:
        return None
    import numpy as np
    import pandas as pd

    if isinstance(example, pd.DataFrame):
        columns = [str(name) for name in example.columns]
        return [
            {column: _json_value(value) for column, value in zip(columns, row, strict=True)}
            for row in example.itertuples(index=False, name=None)
        ]
    if isinstance(example, np.ndarray) and example.ndim in (1, 2):
        rows = example.reshape(1, -1) if example.ndim == 1 else example
        names = [feature.name for feature in features] if features else []
        if len(names) != rows.shape[1]:
            names = [f"f{index}" for index in range(rows.shape[1])]
        return [{name: _json_value(value) for name, value in zip(names, row, strict=True)} for row in rows]
    raise SourceError(
        f"{source}: the input example is a {type(example).__name__}, not rows of columns; log the model with a "
        f"DataFrame or 2-D array as input_example"
    )


def _requirement_lines(path: Path) -> list[str]:
    """The requirement lines of a pip file, without comments, blank lines and options (-r, -c, --index-url)."""
    lines = []
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith(("#", "-")):
            lines.append(line)
    return lines


def _requirements(directory: Path) -> ModelRequirements:
    import yaml

    python: str | None = None
    python_env = directory / "python_env.yaml"
    if python_env.is_file():
        loaded = yaml.safe_load(python_env.read_text()) or {}
        python = str(loaded["python"]) if loaded.get("python") is not None else None
    constraints_file = directory / "constraints.txt"
    constraints = _requirement_lines(constraints_file) if constraints_file.is_file() else []
    requirements_file = directory / "requirements.txt"
    if requirements_file.is_file():
        return ModelRequirements(pip=_requirement_lines(requirements_file), constraints=constraints, python=python)
    pip: list[str] = []
    conda = directory / "conda.yaml"
    if conda.is_file():
        environment = yaml.safe_load(conda.read_text()) or {}
        for dependency in environment.get("dependencies") or []:
            if isinstance(dependency, dict):
                pip.extend(str(line) for line in dependency.get("pip") or [] if not str(line).startswith("-"))
            elif python is None and isinstance(dependency, str) and dependency.startswith("python="):
                python = dependency.removeprefix("python=")
    return ModelRequirements(pip=pip, constraints=constraints, python=python)
