"""`sklambda package SOURCE` for an MLflow model: a model directory, runs:/..., models:/NAME/VERSION or
models:/NAME@ALIAS, resolved by sklambda.mlflow_source and packaged like a joblib file.

What MLflow recorded fills the manifest: the signature's column names, order and optional columns (nullable), with
each column's type and categories read from the fitted model as for any model; the input example's first row as the
example; the registry name and version as the model's name and version; the run, registry entry and metrics as
lineage. A model MLflow saved with skops stays skops and is trusted with no type MLflow did not record as trusted.
The requirements MLflow recorded are checked against what the model layer installs.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from predict_service.manifest import FeatureSpec, Lineage, ModelManifest
from predict_service.runtimes import DEFAULT_RUNTIME, RUNTIMES

from .artifact import ModelFormat, PackagingError, Runtime, check_format_and_runtime, write_model_dir, write_skops
from .dataframe import DataFrameModelError, fitted_on_dataframe, rewrite_and_verify
from .feature_types import Category, FeatureType, FeatureTypeError, detect_feature_types, row_missing_check
from .mlflow_source import MlflowModel, SignatureFeature, SourceError, resolve_mlflow_source
from .packaging import check_class_names
from .requirements import REPO_ROOT, base_stack, canonical_name

SKOPS_REQUIREMENTS_FILE = REPO_ROOT / "layers" / "model" / "requirements-skops.txt"

# Distributions MLflow records that the served model does not need: MLflow itself, the formats the model is read
# from here (the layer ships model.joblib or model.skops, written anew), pandas (a DataFrame model is rewritten to
# take plain rows and verified to unpickle without it), and test tools.
NOT_SERVED = frozenset(
    {
        "mlflow", "mlflow-skinny", "mlflow-tracing", "cloudpickle", "pandas", "pyarrow",
        "pytest", "pytest-cov", "pytest-xdist", "coverage", "hypothesis", "tox", "nox", "mypy", "ruff",
    }
)  # fmt: skip


def package_mlflow_source(
    source: str,
    model_dir: Path,
    *,
    name: str | None,
    version: str | None,
    class_names: list[str] | None,
    runtime: Runtime = DEFAULT_RUNTIME,
    model_format: ModelFormat = "joblib",
) -> ModelManifest:
    """Resolve SOURCE with MLflow and write a verified model directory with the model's lineage."""
    try:
        resolved = resolve_mlflow_source(source)
    except SourceError as error:
        raise PackagingError(error.message) from None
    model_format = served_format(resolved, runtime, model_format)
    check_format_and_runtime(model_format, runtime)
    check_class_names(resolved.estimator, class_names)
    served = served_model(resolved)
    if model_format == "skops" and resolved.skops_trusted_types is not None:
        check_skops_trust(served.model, resolved.skops_trusted_types, source)
    check_recorded_requirements(resolved, model_format)
    return write_model_dir(
        served.model,
        model_dir,
        name=name or model_name(resolved, source),
        version=version or (resolved.registry.version if resolved.registry else None),
        features=[feature_spec(feature) for feature in served.features],
        example=served.example,
        class_names=class_names,
        runtime=runtime,
        model_format=model_format,
        lineage=lineage(resolved, source),
    )


def served_format(resolved: MlflowModel, runtime: Runtime, requested: ModelFormat) -> ModelFormat:
    """skops when MLflow saved the model with skops (it is then never pickled on the way to the layer), as long as
    the runtime serves the scikit-learn model's own file; else what was asked for."""
    if resolved.serialization_format == "skops" and "skops" in RUNTIMES[runtime].formats:
        return "skops"
    return requested


@dataclass(frozen=True)
class ServedModel:
    """The estimator the layer ships (rewritten for plain rows when it was fitted on a DataFrame), its features in
    the signature's order, and the example row in that order."""

    model: Any
    features: list[FeatureType]
    example: list[Any]


def served_model(resolved: MlflowModel) -> ServedModel:
    estimator = resolved.estimator
    signature = resolved.features
    if fitted_on_dataframe(estimator):
        fitted = [str(column) for column in estimator.feature_names_in_]
        names = signature_names(signature, fitted, resolved.lineage.source_uri)
    else:
        width = int(getattr(estimator, "n_features_in_", 0)) or (len(signature) if signature else 0)
        if signature is not None and len(signature) != width:
            raise PackagingError(
                f"{resolved.lineage.source_uri}: the signature has {len(signature)} columns but the model takes "
                f"{width}; log the model again with a signature inferred from its training data"
            )
        names = [feature.name for feature in signature] if signature else [f"f{index}" for index in range(width)]
    if not names:
        raise PackagingError(
            f"{resolved.lineage.source_uri}: the model does not say how many features it takes and has no signature; "
            f"log it with a signature"
        )
    detected = {feature.name: feature for feature in detect_feature_types(estimator, names=names)}
    by_name = {feature.name: feature for feature in signature or []}
    example = example_row(resolved, names, detected)
    model = estimator
    numeric_only = all(detected[name].kind == "number" for name in names)
    if fitted_on_dataframe(estimator):
        frame = example_frame(resolved, names, detected, example)
        try:
            rewritten = rewrite_and_verify(estimator, frame, frame.iloc[:1])
        except DataFrameModelError as error:
            raise PackagingError(f"{resolved.lineage.source_uri}: {error}") from None
        model, numeric_only = rewritten.model, rewritten.numeric_only
    try:
        types = detect_feature_types(
            model,
            names=names,
            nullable_check=row_missing_check(model, example, numeric_only=numeric_only),
            categorical=[name for name, feature in by_name.items() if feature.type == "category"],
            nullable=[name for name, feature in by_name.items() if feature.nullable],
        )
    except FeatureTypeError as error:
        raise PackagingError(f"{resolved.lineage.source_uri}: {error}") from None
    for name in names:
        check_against_signature(by_name.get(name), detected[name], resolved)
    return ServedModel(model, types, example)


def signature_names(signature: list[SignatureFeature] | None, fitted: list[str], source: str) -> list[str]:
    """The features in the signature's order, which must be the columns the model was fitted on in their order: the
    rewritten model takes its rows in fit order."""
    if signature is None:
        return fitted
    names = [feature.name for feature in signature]
    if names == fitted:
        return names
    if sorted(names) == sorted(fitted):
        raise PackagingError(
            f"{source}: the signature lists the columns as {names} but the model was fitted on {fitted}; log the "
            f"model with a signature in the training columns' order"
        )
    raise PackagingError(
        f"{source}: the signature's columns {names} are not the ones the model was fitted on {fitted}; log the model "
        f"with a signature inferred from its training data"
    )


def check_against_signature(column: SignatureFeature | None, detected: FeatureType, resolved: MlflowModel) -> None:
    """A string column must reach an encoder that lists its categories: the service checks values against them."""
    if column is None or column.type != "category":
        return
    if detected.kind != "category" or not detected.categories:
        raise PackagingError(
            f"{resolved.lineage.source_uri}: signature column {column.name!r} holds strings, but no fitted encoder of "
            f"the model lists its categories; encode it with OneHotEncoder or OrdinalEncoder, or log it as a number"
        )


def example_row(resolved: MlflowModel, names: Sequence[str], types: dict[str, FeatureType]) -> list[Any]:
    """The input example's first complete row (else its first row) in feature order: the row a form starts from
    shows every feature. Without an input example: zeros, and each category's first value."""
    if not resolved.example:
        return [default_value(types[name]) for name in names]
    missing = sorted({name for row in resolved.example for name in names if name not in row})
    if missing:
        raise PackagingError(
            f"{resolved.lineage.source_uri}: the input example lacks the columns {missing}; log the model with an "
            f"input example holding every column"
        )
    rows = [[row[name] for name in names] for row in resolved.example]
    return next((row for row in rows if None not in row), rows[0])


def default_value(feature: FeatureType) -> Any:
    if feature.kind == "category" and feature.categories:
        return feature.categories[0]
    return 0.0


def example_frame(resolved: MlflowModel, names: list[str], types: dict[str, FeatureType], example: list[Any]) -> Any:
    """The rows the rewrite is verified on: the input example (or the example row), plus a row per fitted category
    of each category column, so that every category reaches the rewritten model once."""
    import pandas as pd

    rows = [[row.get(name) for name in names] for row in resolved.example] if resolved.example else [example]
    for index, name in enumerate(names):
        for category in types[name].categories or ():
            varied = list(rows[0])
            varied[index] = category
            rows.append(varied)
    frame = pd.DataFrame(rows, columns=names)
    for name in names:
        if types[name].kind == "number":
            frame[name] = pd.to_numeric(frame[name])
    return frame


def feature_spec(feature: FeatureType) -> FeatureSpec:
    if feature.kind == "category":
        return FeatureSpec(name=feature.name, type="category", categories=[str(value) for value in categories(feature)])
    return FeatureSpec(name=feature.name)


def categories(feature: FeatureType) -> tuple[Category, ...]:
    return feature.categories or ()


def check_skops_trust(model: Any, trusted: list[str], source: str) -> None:
    """The model.skops written for the layer may need no type beyond the ones MLflow recorded as trusted."""
    with tempfile.TemporaryDirectory(prefix="sklambda-skops-") as scratch:
        needed = write_skops(model, Path(scratch) / "model.skops").trusted_types
    beyond = sorted(set(needed) - set(trusted))
    if beyond:
        raise PackagingError(
            f"{source}: the model needs the skops types {beyond}, which MLflow did not record as trusted; log it "
            f"again with skops_trusted_types listing them, or package it with --format joblib"
        )


def layer_stack(model_format: ModelFormat) -> dict[str, str]:
    """What the model layer installs for a model of this format: canonical distribution name -> version."""
    stack = base_stack()
    if model_format == "skops":
        stack.update(base_stack(SKOPS_REQUIREMENTS_FILE))
    return stack


def check_recorded_requirements(resolved: MlflowModel, model_format: ModelFormat) -> dict[str, str]:
    """The requirements MLflow recorded, against what the layer will install. A library the layer pins at another
    version, or one it does not install at all, stops packaging with one line naming them; MLflow itself, the
    formats the model is read from, pandas and test tools are left out. Returns the distributions the layer must
    add (none yet: the layer installs its stack only)."""
    stack = layer_stack(model_format)
    not_served = NOT_SERVED if model_format == "skops" else NOT_SERVED | {"skops"}
    mismatched: list[str] = []
    extra: list[str] = []
    for line in [*resolved.requirements.pip, *resolved.requirements.constraints]:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            extra.append(line)
            continue
        name = canonical_name(requirement.name)
        if name in not_served or (requirement.marker is not None and not requirement.marker.evaluate()):
            continue
        if name not in stack:
            extra.append(str(requirement))
        elif not requirement.specifier.contains(stack[name], prereleases=True):
            mismatched.append(f"{requirement} (the layer installs {name}=={stack[name]})")
    problems = []
    if mismatched:
        problems.append(f"it was logged with {', '.join(mismatched)}")
    if extra:
        problems.append(f"it requires {', '.join(extra)}, which the layer does not install")
    if problems:
        raise PackagingError(
            f"{resolved.lineage.source_uri}: {'; '.join(problems)}; log the model again in an environment with the "
            f"layer's versions (layers/model/requirements.txt)"
        )
    return {}


def model_name(resolved: MlflowModel, source: str) -> str:
    """The registry name, else the model directory's or the run artifact's name."""
    if resolved.registry is not None:
        return resolved.registry.name
    return Path(source.removeprefix("runs:/").rstrip("/")).name


def lineage(resolved: MlflowModel, source: str) -> Lineage:
    """The public record of where the model came from. A directory is named, not located: a local path (like a
    tracking URI or an artifact location) does not belong in what GET /model serves."""
    described = source if source.startswith(("runs:/", "models:/")) else Path(resolved.lineage.source_uri).name
    registry = resolved.registry
    return Lineage(
        source=described,
        run_id=resolved.lineage.run_id,
        model_id=resolved.lineage.model_id,
        registry_name=registry.name if registry else None,
        registry_version=registry.version if registry else None,
        registry_alias=registry.alias if registry else None,
        metrics=resolved.lineage.metrics,
    )
