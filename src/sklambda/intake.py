"""What `sklambda package` learns from a user's fitted model before writing its directory.

- the model to serve: a model fitted on a pandas DataFrame is rewritten to take plain rows in feature order and kept
  only when it answers like the original on DataFrame input (`dataframe.rewrite_and_verify`); any other model is
  served as it is;
- every feature's type (number, category, text; nullable or not), read from the fitted model with the user's
  overrides (`feature_types.detect_feature_types`), and each number's range when training data is known;
- the task (`feature_types.task_kind`), the classes (one list per output for multi-output classifiers), the outputs;
- the example row, checked against those types: strings only for categories and text, nulls only where nullable.

The result is a set of model.json fields (schema 3, see functions/predict/predict_service/manifest.py) and the model
object to pickle. pandas is imported only for DataFrame models, on the packaging machine.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from predict_service.manifest import TaskKind

from .dataframe import DataFrameModelError, fitted_on_dataframe, predicts, rewrite_and_verify, rows_to_array
from .feature_types import (
    FeatureType,
    FeatureTypeError,
    detect_feature_types,
    is_text_model,
    row_missing_check,
    task_kind,
)

ExampleValue = float | int | str | bool | None
Example = list[ExampleValue] | dict[str, ExampleValue]
InputLayout = Literal["table", "text"]

DEFAULT_TEXT_EXAMPLE = "an example text"
MAX_LISTED_NAMES = 8
"""How many names a one-line error lists before saying how many more there are."""


class IntakeError(ValueError):
    """The model or what the user said about it cannot be packaged; the message is one line saying what to do."""


@dataclass(frozen=True)
class Overrides:
    """Feature types named on the command line (`--categorical`, `--text`, `--nullable`): they win over detection."""

    categorical: Collection[str] = ()
    text: Collection[str] = ()
    nullable: Collection[str] = ()


NO_OVERRIDES = Overrides()


@dataclass
class ModelIntake:
    """The model to pickle and the manifest fields describing it."""

    model: Any
    rewritten: bool
    """True when `model` is a rewrite of the user's: its own pickle is written, not the user's bytes."""
    feature_types: list[FeatureType]
    example: list[ExampleValue]
    task: TaskKind
    input_layout: InputLayout
    numeric_only: bool
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    classes: list[Any] | list[list[Any]] | None = None
    outputs: list[str] | None = None
    has_predict_proba: bool = False
    dataframe: dict[str, Any] | None = None

    @property
    def feature_names(self) -> list[str]:
        return [feature.name for feature in self.feature_types]

    def without_nulls(self) -> ModelIntake:
        """The same model with no nullable feature: for a runtime serving a conversion verified without missing
        values (ONNX), where a null must be refused (422) rather than answered unverified."""
        nulls = [name for name, value in zip(self.feature_names, self.example, strict=True) if value is None]
        if nulls:
            raise IntakeError(
                f"--example gives null for {_names_list(nulls)}, and the converted model is not verified with "
                f"missing values: give values there"
            )
        types = [dataclasses.replace(feature, nullable=False) for feature in self.feature_types]
        return dataclasses.replace(self, feature_types=types)

    def model_input(self, rows: Sequence[Sequence[ExampleValue]]) -> np.ndarray:
        """Rows as the service hands them to the model: a 1-D array of strings for a text model, else the 2-D array
        `dataframe.rows_to_array` builds."""
        if self.input_layout == "text":
            return np.array([row[0] for row in rows], dtype=object)
        return rows_to_array(rows, numeric_only=self.numeric_only)

    def feature_specs(self) -> list[dict[str, Any]]:
        """model.json's `features`."""
        specs = []
        for feature in self.feature_types:
            spec: dict[str, Any] = {"name": feature.name, "type": feature.kind}
            if feature.kind == "category":
                spec["categories"] = list(feature.categories) if feature.categories is not None else []
                # a category given by override has no known values: any string is accepted
                spec["accepts_unknown"] = feature.accepts_unknown or feature.categories is None
            if feature.nullable:
                spec["nullable"] = True
            if feature.name in self.ranges:
                spec["range"] = list(self.ranges[feature.name])
            specs.append(spec)
        return specs

    def manifest_fields(self) -> dict[str, Any]:
        """The model.json fields this intake decides (schema 3)."""
        fields: dict[str, Any] = {
            "features": self.feature_specs(),
            "feature_names": self.feature_names,
            "n_features": len(self.feature_types),
            "task": self.task,
            "classes": self.classes,
            "outputs": self.outputs,
            "has_predict_proba": self.has_predict_proba,
            "input_layout": self.input_layout,
            "example": self.example,
            "fitted_with_feature_names": False if self.rewritten else fitted_on_dataframe(self.model),
        }
        if self.dataframe is not None:
            fields["dataframe"] = self.dataframe
        return fields


def _names_list(names: Sequence[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED_NAMES])
    more = len(names) - MAX_LISTED_NAMES
    return f"{shown} and {more} more" if more > 0 else shown


def example_row(example: Example | None, names: Sequence[str]) -> list[ExampleValue] | None:
    """The example as a list in feature order (a JSON object names its features), or None when not given."""
    if example is None:
        return None
    if isinstance(example, Mapping):
        unknown = [name for name in example if name not in names]
        if unknown:
            raise IntakeError(
                f"--example names {_names_list(unknown)}, which the model does not have: its features are "
                f"{_names_list(list(names))}"
            )
        missing = [name for name in names if name not in example]
        if missing:
            raise IntakeError(f"--example lacks {_names_list(missing)}: give a value (or null) for every feature")
        return [example[name] for name in names]
    if len(example) != len(names):
        raise IntakeError(
            f"--example has {len(example)} values but the model takes {len(names)} features "
            f"({_names_list(list(names))})"
        )
    return list(example)


def default_example(types: Sequence[FeatureType]) -> list[ExampleValue]:
    """A row every type accepts: 0.0 for numbers, the first known category, a short text."""
    row: list[ExampleValue] = []
    for feature in types:
        if feature.kind == "text":
            row.append(DEFAULT_TEXT_EXAMPLE)
        elif feature.kind == "category":
            if not feature.categories:
                raise IntakeError(
                    f"{feature.name} is a category with no known values: give an example row with --example"
                )
            row.append(feature.categories[0])
        else:
            row.append(0.0)
    return row


def check_example(example: Sequence[ExampleValue], types: Sequence[FeatureType], *, nulls: bool = True) -> None:
    """Each value of the kind its feature takes; null only where the feature is nullable (unless `nulls` is False:
    before the nullable features are known)."""
    for value, feature in zip(example, types, strict=True):
        if value is None and not nulls:
            continue
        if value is None:
            if not feature.nullable:
                raise IntakeError(
                    f"--example gives null for {feature.name}, which the model does not accept missing: give a value, "
                    f"or pass --nullable {feature.name} if the model does take missing values there"
                )
        elif feature.kind == "number" and (isinstance(value, (str, bool)) or not isinstance(value, (int, float))):
            raise IntakeError(
                f"--example gives {value!r} for {feature.name}, a number feature: give a number, or pass "
                f"--categorical {feature.name} if it is a category"
            )
        elif feature.kind == "text" and not isinstance(value, str):
            raise IntakeError(f"--example gives {value!r} for {feature.name}, a text feature: give a string")
        elif isinstance(value, float) and not math.isfinite(value):
            raise IntakeError(f"--example gives {value} for {feature.name}: JSON has no such number; use null")


def _frame_from_rows(rows: Sequence[Sequence[ExampleValue]], names: Sequence[str]) -> Any:
    """A DataFrame of JSON rows as a DataFrame-fitted model saw its data: NaN, not None, for a missing value."""
    import pandas as pd

    columns = {name: [np.nan if row[index] is None else row[index] for row in rows] for index, name in enumerate(names)}
    return pd.DataFrame(columns)


def _category_probe_rows(
    example: Sequence[ExampleValue], types: Sequence[FeatureType], *, limit: int = 50
) -> list[list[ExampleValue]]:
    """Without training data: the example row once per known category of each category feature, so that the rewrite
    is verified on every category the encoders were fitted with."""
    rows = [list(example)]
    for index, feature in enumerate(types):
        for category in (feature.categories or ())[:limit]:
            row = list(example)
            row[index] = category
            rows.append(row)
    return rows


def number_ranges(frame: Any, types: Sequence[FeatureType]) -> dict[str, tuple[float, float]]:
    """[min, max] of each number feature in the training data (features with no value there are left out)."""
    import pandas as pd

    ranges = {}
    for feature in types:
        if feature.kind != "number" or feature.name not in frame.columns:
            continue
        column = pd.to_numeric(frame[feature.name], errors="coerce").dropna()
        if not column.empty:
            ranges[feature.name] = (float(column.min()), float(column.max()))
    return ranges


def _as_label(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def describe_outputs(
    model: Any, task: TaskKind, example_input: np.ndarray, outputs: Sequence[str] | None
) -> tuple[list[Any] | list[list[Any]] | None, list[str] | None]:
    """The classes (one list per output for a multi-output classifier) and the output names for multi-output."""
    classes_attribute = getattr(model, "classes_", None)
    classes: list[Any] | list[list[Any]] | None = None
    if task == "classification" and classes_attribute is not None:
        classes = [_as_label(label) for label in np.asarray(classes_attribute).tolist()]
    elif task == "multioutput_classification" and classes_attribute is not None:
        classes = [[_as_label(label) for label in np.asarray(per_output).tolist()] for per_output in classes_attribute]
    if not task.startswith("multioutput"):
        if outputs is not None:
            raise IntakeError(f"--outputs names the outputs of a multi-output model; this one does {task}: drop it")
        return classes, None
    n_outputs = int(np.asarray(model.predict(example_input)).shape[1])
    if outputs is None:
        return classes, [f"output{index}" for index in range(n_outputs)]
    if len(outputs) != n_outputs:
        raise IntakeError(f"--outputs names {len(outputs)} outputs but the model predicts {n_outputs} per row")
    return classes, list(outputs)


def has_working_predict_proba(model: Any, example_input: np.ndarray) -> bool:
    """hasattr alone is not enough: SVC(probability=False) has the attribute and raises when called."""
    if not hasattr(model, "predict_proba"):
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.predict_proba(example_input)
    except Exception:  # whatever it raises, predict_proba is not something the service can offer
        return False
    return True


def read_training_data(path: Path) -> Any:
    """The DataFrame in a CSV or Parquet file: training data to verify the rewrite on and take ranges from."""
    import pandas as pd

    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except (OSError, ValueError, ImportError) as error:
        raise IntakeError(f"--data {path} does not read as a CSV or Parquet table: {error}") from error


def intake_model(
    model: Any,
    *,
    feature_names: Sequence[str] | None,
    example: Example | None,
    overrides: Overrides = NO_OVERRIDES,
    training_data: Any = None,
    outputs: Sequence[str] | None = None,
) -> ModelIntake:
    """Everything packaging needs to know about `model` (see the module docstring).

    `feature_names` are the user's names for a model fitted without them; `training_data` a DataFrame of (a sample
    of) the training data, when known."""
    try:
        with warnings.catch_warnings():
            # the original model is given DataFrames and arrays alike here: a name warning says nothing about it
            warnings.filterwarnings("ignore", message=".*does not have valid feature names")
            warnings.filterwarnings("ignore", message=".*was fitted without feature names")
            if is_text_model(model):
                return _intake_text(model, example, overrides, outputs)
            if fitted_on_dataframe(model):
                return _intake_dataframe(model, feature_names, example, overrides, training_data, outputs)
            return _intake_rows(model, feature_names, example, overrides, training_data, outputs)
    except (FeatureTypeError, DataFrameModelError) as error:
        raise IntakeError(str(error)) from error


def _finish(
    model: Any,
    types: list[FeatureType],
    example: list[ExampleValue],
    *,
    rewritten: bool,
    input_layout: InputLayout,
    numeric_only: bool,
    ranges: dict[str, tuple[float, float]],
    outputs: Sequence[str] | None,
    dataframe: dict[str, Any] | None = None,
) -> ModelIntake:
    intake = ModelIntake(
        model=model,
        rewritten=rewritten,
        feature_types=types,
        example=example,
        task="regression",
        input_layout=input_layout,
        numeric_only=numeric_only,
        ranges=ranges,
        dataframe=dataframe,
    )
    example_input = intake.model_input([example])
    try:
        intake.task = task_kind(model, example_input)
    except Exception as error:  # the model's own error on its own example is the message
        raise IntakeError(
            f"the model failed to predict the example row {example}: {type(error).__name__}: "
            f"{' '.join(str(error).split())[:300]}; give a row it accepts with --example"
        ) from error
    intake.classes, intake.outputs = describe_outputs(model, intake.task, example_input, outputs)
    intake.has_predict_proba = intake.task in (
        "classification",
        "multioutput_classification",
    ) and has_working_predict_proba(model, example_input)
    return intake


def _intake_text(
    model: Any, example: Example | None, overrides: Overrides, outputs: Sequence[str] | None
) -> ModelIntake:
    types = _detect(model, overrides)
    row = example_row(example, [feature.name for feature in types]) or default_example(types)
    check_example(row, types)
    return _finish(
        model, types, row, rewritten=False, input_layout="text", numeric_only=False, ranges={}, outputs=outputs
    )


def _detect(
    model: Any,
    overrides: Overrides,
    *,
    names: Sequence[str] | None = None,
    frame: Any = None,
    nullable_check: Callable[[int], bool] | None = None,
) -> list[FeatureType]:
    return detect_feature_types(
        model,
        names=names,
        frame=frame,
        nullable_check=nullable_check,
        categorical=overrides.categorical,
        text=overrides.text,
        nullable=overrides.nullable,
    )


def _intake_dataframe(
    model: Any,
    given_names: Sequence[str] | None,
    example: Example | None,
    overrides: Overrides,
    training_data: Any,
    outputs: Sequence[str] | None,
) -> ModelIntake:
    names = [str(name) for name in model.feature_names_in_]
    if given_names is not None and list(given_names) != names:
        raise IntakeError(f"--features {list(given_names)} disagrees with the names the model was fitted with {names}")
    # types of the original model, for a default example and the category rows to verify on; the served types are
    # read from the rewritten model below (with the nullable check on rows as the service builds them)
    first_look = _detect(model, overrides, names=names, frame=training_data)
    row = example_row(example, names) or _default_dataframe_example(first_look, training_data)
    example_frame = _frame_from_rows([row], names)
    if training_data is not None:
        missing = [name for name in names if name not in training_data.columns]
        if missing:
            raise IntakeError(
                f"--data lacks the model's columns {_names_list(missing)}: give the data it was fitted on"
            )
        frame = training_data
    else:
        frame = _frame_from_rows(_category_probe_rows(row, first_look), names)
    check_example(row, first_look, nulls=False)
    check_example_nulls(model, example_frame, row, names)
    result = rewrite_and_verify(model, frame, example_frame)
    types = _detect(
        result.model,
        overrides,
        names=names,
        frame=training_data,
        nullable_check=row_missing_check(result.model, row, numeric_only=result.numeric_only),
    )
    check_example(row, types)
    return _finish(
        result.model,
        types,
        row,
        rewritten=True,
        input_layout="table",
        numeric_only=result.numeric_only,
        ranges=number_ranges(training_data, types) if training_data is not None else {},
        outputs=outputs,
        dataframe=result.record(),
    )


def check_example_nulls(model: Any, example_frame: Any, row: Sequence[ExampleValue], names: Sequence[str]) -> None:
    """An example with nulls the original model does not predict with is the user's mistake, said as such (the
    rewrite's verification would otherwise report it as the model failing on its own rows)."""
    nulls = [name for name, value in zip(names, row, strict=True) if value is None]
    if nulls and not predicts(model, example_frame):
        raise IntakeError(
            f"--example gives null for {_names_list(nulls)}, and the model does not predict with missing values "
            f"there: give values (the model takes missing values only where it was built to)"
        )


def _default_dataframe_example(types: Sequence[FeatureType], training_data: Any) -> list[ExampleValue]:
    """The first complete training row when there is training data, else `default_example`."""
    if training_data is not None:
        from .dataframe import frame_rows

        complete = training_data[[feature.name for feature in types]].dropna()
        if not complete.empty:
            return frame_rows(complete.iloc[:1], [feature.name for feature in types])[0]
    return default_example(types)


def _intake_rows(
    model: Any,
    given_names: Sequence[str] | None,
    example: Example | None,
    overrides: Overrides,
    training_data: Any,
    outputs: Sequence[str] | None,
) -> ModelIntake:
    names = _row_feature_names(model, given_names)
    declared = _detect(model, overrides, names=names)
    numeric_only = all(feature.kind == "number" for feature in declared)
    row = example_row(example, names) or default_example(declared)
    types = _detect(
        model,
        overrides,
        names=names,
        nullable_check=row_missing_check(model, row, numeric_only=numeric_only),
    )
    check_example(row, types)
    return _finish(
        model,
        types,
        row,
        rewritten=False,
        input_layout="table",
        numeric_only=numeric_only,
        ranges=number_ranges(training_data, types) if training_data is not None else {},
        outputs=outputs,
    )


def _row_feature_names(model: Any, given: Sequence[str] | None) -> list[str]:
    """The user's names, else f0..fN-1, for a model fitted on an array."""
    n_features = getattr(model, "n_features_in_", None)
    if given is not None:
        if n_features is not None and len(given) != n_features:
            raise IntakeError(f"--features names {len(given)} columns but the model expects {n_features}")
        return list(given)
    if n_features is None:
        raise IntakeError(f"{type(model).__name__} does not say how many features it takes: pass --features a,b,c")
    return [f"f{index}" for index in range(int(n_features))]
