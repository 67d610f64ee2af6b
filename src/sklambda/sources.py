"""`sklambda package SOURCE` for an MLflow model: a model directory, runs:/..., models:/NAME/VERSION or
models:/NAME@ALIAS, resolved by sklambda.mlflow_source and packaged like a joblib file.

What MLflow recorded fills the manifest: the signature's column names, order and optional columns (nullable), with
each column's type and categories read from the fitted model as for any model; the input example's first complete
row as the example; the registry name and version as the model's name and version; the run, registry entry and
metrics as lineage. A model MLflow saved with skops stays skops and is trusted with no type MLflow did not record as
trusted. The requirements MLflow recorded are checked against what the model layer installs.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from predict_service.manifest import Lineage, ModelManifest
from predict_service.runtimes import DEFAULT_RUNTIME, RUNTIMES

from .artifact import (
    ModelFormat,
    PackagingError,
    Runtime,
    check_format_and_runtime,
    check_replaceable,
    write_model_dir,
    write_skops,
)
from .dataframe import fitted_on_dataframe
from .feature_types import is_text_model
from .intake import NO_OVERRIDES, Example, IntakeError, ModelIntake, Overrides, check_example
from .mlflow_source import MlflowModel, SignatureFeature, SourceError, resolve_mlflow_source
from .packaging import check_class_names, describe_user_model
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
    source: Path | str,
    model_dir: Path,
    *,
    feature_names: list[str] | None = None,
    name: str | None = None,
    version: str | None = None,
    example: Example | None = None,
    class_names: list[str] | None = None,
    runtime: Runtime = DEFAULT_RUNTIME,
    model_format: ModelFormat = "joblib",
    overrides: Overrides = NO_OVERRIDES,
    training_data: Path | None = None,
    outputs: list[str] | None = None,
    force: bool = False,
    code_paths: list[Path] | None = None,
    sklearn_python: Path | None = None,
) -> ModelManifest:
    """Resolve SOURCE with MLflow and write a verified model directory with the model's lineage. Takes the options
    of `packaging.package_model`; what MLflow recorded fills in the ones not given (see the module docstring)."""
    source = str(source)
    if code_paths or sklearn_python is not None:
        raise PackagingError(
            "--code and --sklearn-python apply to a model file, not an MLflow source: an MLflow model must load with "
            "the layer's own libraries (log it again from that environment)"
        )
    try:
        resolved = resolve_mlflow_source(source)
    except SourceError as error:
        raise PackagingError(error.message) from None
    model_format = served_format(resolved, runtime, model_format)
    check_format_and_runtime(model_format, runtime)
    name = name or model_name(resolved, source)
    if not force:
        check_replaceable(model_dir, name)
    check_class_names(resolved.estimator, class_names)
    names = signature_names(resolved, feature_names)
    intake = describe_user_model(
        resolved.estimator,
        None if fitted_on_dataframe(resolved.estimator) else names,
        example if example is not None else example_from_mlflow(resolved, names),
        overrides if is_text_model(resolved.estimator) else signature_overrides(resolved.features, overrides),
        training_data,
        outputs,
    )
    nullable_as_signed(resolved, intake, overrides)
    if model_format == "skops" and resolved.skops_trusted_types is not None:
        check_skops_trust(intake.model, resolved.skops_trusted_types, source)
    check_recorded_requirements(resolved, model_format)
    return write_model_dir(
        intake.model,
        model_dir,
        name=name,
        version=version or (resolved.registry.version if resolved.registry else None),
        features=[],
        example=intake.example,
        class_names=class_names,
        runtime=runtime,
        model_format=model_format,
        intake=intake,
        force=True,
        lineage=lineage(resolved, source),
    )


def served_format(resolved: MlflowModel, runtime: Runtime, requested: ModelFormat) -> ModelFormat:
    """skops when MLflow saved the model with skops (it is then never pickled on the way to the layer), as long as
    the runtime serves the scikit-learn model's own file; else what was asked for."""
    if resolved.serialization_format == "skops" and "skops" in RUNTIMES[runtime].formats:
        return "skops"
    return requested


def signature_names(resolved: MlflowModel, given: list[str] | None) -> list[str] | None:
    """The feature names: the signature's, which must be the columns a DataFrame model was fitted on, in their
    order (the rewritten model takes rows in fit order); --features must agree with them."""
    source = resolved.lineage.source_uri
    signature = [feature.name for feature in resolved.features] if resolved.features is not None else None
    if given is not None and signature is not None and given != signature:
        raise PackagingError(
            f"--features {given} disagrees with the MLflow signature's columns {signature}: drop --features"
        )
    names = signature if signature is not None else given
    estimator = resolved.estimator
    if names is None or not fitted_on_dataframe(estimator):
        return names
    fitted = [str(column) for column in estimator.feature_names_in_]
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


def signature_overrides(signature: list[SignatureFeature] | None, given: Overrides) -> Overrides:
    """The signature's string columns are categories and its optional columns nullable, besides what the user
    named; a string column the user calls text stays text."""
    if signature is None:
        return given
    strings = [feature.name for feature in signature if feature.type == "category" and feature.name not in given.text]
    optional = [feature.name for feature in signature if feature.nullable]
    return Overrides(
        categorical=sorted({*given.categorical, *strings}),
        text=given.text,
        nullable=sorted({*given.nullable, *optional}),
    )


def nullable_as_signed(resolved: MlflowModel, intake: ModelIntake, given: Overrides) -> None:
    """The signature decides which columns may be missing: its optional ones (and the ones named with --nullable),
    not every column the model happens to tolerate a NaN in. An optional column the model cannot take missing is
    refused here rather than failing requests later."""
    if resolved.features is None:
        return
    optional = {feature.name for feature in resolved.features if feature.nullable} | set(given.nullable)
    refused = [feature.name for feature in intake.feature_types if feature.name in optional and not feature.nullable]
    if refused:
        raise PackagingError(
            f"{resolved.lineage.source_uri}: the signature marks {', '.join(refused)} optional, but the model fails "
            f"to predict when {'it is' if len(refused) == 1 else 'they are'} missing; impute missing values in the "
            f"pipeline, or log the model with {'that column' if len(refused) == 1 else 'those columns'} required"
        )
    intake.feature_types = [replace(feature, nullable=feature.name in optional) for feature in intake.feature_types]
    try:
        check_example(intake.example, intake.feature_types)
    except IntakeError as error:
        raise PackagingError(f"{resolved.lineage.source_uri}: {error}") from None


def example_from_mlflow(resolved: MlflowModel, names: list[str] | None) -> Example | None:
    """The input example's first complete row (else its first row): the row a form starts from shows every
    feature. In the signature's order when there is one (a text model names its one column its own way), else by
    column name. None without an input example (packaging then makes one up)."""
    if not resolved.example:
        return None
    first = next((row for row in resolved.example if None not in row.values()), resolved.example[0])
    if names is None:
        return first
    return [first.get(name) for name in names]


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
