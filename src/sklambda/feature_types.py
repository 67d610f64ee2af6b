"""What each feature of a fitted model is, and what kind of task the model does, read from the fitted model itself.

- number: anything not found to be something else;
- category: a column that reaches a fitted encoder with `categories_` (`OneHotEncoder`, `OrdinalEncoder`,
  `TargetEncoder`) or a categorical feature of a `HistGradientBoosting*` model; the allowed values are the fitted
  categories, and `accepts_unknown` says whether the encoder takes any other value (`handle_unknown="ignore"`,
  `"infrequent_if_exist"`, `"use_encoded_value"`, target encoding, gradient boosting's own categories);
- text: a model whose first step is a text vectorizer (one string per row, given as a 1-D array), or a column a
  `ColumnTransformer` hands to a text vectorizer;
- nullable: a column where the fitted model predicts with a missing value there, tried on an example row.

Detection follows the columns from the model's input into the encoders: through `Pipeline` steps, search objects'
`best_estimator_`, `TransformedTargetRegressor`, ensembles' fitted estimators, calibrated classifiers and every
`ColumnTransformer`, and through steps that keep columns in place (imputers without indicators, scalers). Where it
cannot tell, the caller passes overrides (`--categorical`, `--text`, `--nullable` on the command line).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from predict_service.manifest import FeatureType as FeatureKind
from predict_service.manifest import Label as Category
from predict_service.manifest import TaskKind
from sklearn.base import is_classifier
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer, TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import (
    MaxAbsScaler,
    MinMaxScaler,
    RobustScaler,
    StandardScaler,
)
from sklearn.utils import get_tags

TEXT_VECTORIZERS = (CountVectorizer, TfidfVectorizer, HashingVectorizer)
UNKNOWN_ACCEPTING = ("ignore", "infrequent_if_exist", "use_encoded_value")
"""`handle_unknown` values with which an encoder takes a category it was not fitted with."""
COLUMNWISE_STEPS = (SimpleImputer, StandardScaler, MinMaxScaler, MaxAbsScaler, RobustScaler)
"""Steps whose output column i comes from input column i (SimpleImputer only without `add_indicator`)."""


class FeatureTypeError(ValueError):
    """Raised when an override names a feature the model does not have, or contradicts itself."""


@dataclass(frozen=True)
class FeatureType:
    """One input feature as the service should accept it."""

    name: str
    kind: FeatureKind
    nullable: bool = False
    categories: tuple[Category, ...] | None = None
    """The fitted categories (None: not known, e.g. a category given by override)."""
    accepts_unknown: bool = True
    """Whether a category outside `categories` is accepted (always True for numbers and text)."""


@dataclass
class _CategoryEvidence:
    categories: list[tuple[Category, ...]] = field(default_factory=list)
    accepts_unknown: list[bool] = field(default_factory=list)
    text: bool = False


def _plain_category(value: Any) -> Category | None:
    """A fitted category as a JSON value; None for the missing-value category (NaN or None)."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _encoder_accepts_unknown(encoder: Any) -> bool:
    handle_unknown = getattr(encoder, "handle_unknown", None)
    return handle_unknown is None or handle_unknown in UNKNOWN_ACCEPTING


def _input_stages(model: Any) -> Iterator[Any]:
    """The fitted estimators that receive the model's own input rows."""
    if isinstance(model, Pipeline):
        for _, step in model.steps:
            if step is not None and step != "passthrough":
                yield from _input_stages(step)
                return
        return
    if hasattr(model, "best_estimator_"):
        yield from _input_stages(model.best_estimator_)
        return
    if isinstance(model, TransformedTargetRegressor):
        yield from _input_stages(model.regressor_)
        return
    if hasattr(model, "calibrated_classifiers_"):
        for calibrated in model.calibrated_classifiers_:
            yield from _input_stages(calibrated.estimator)
        return
    if isinstance(model, FeatureUnion):
        for _, transformer in model.transformer_list:
            if transformer not in ("drop", None):
                yield from _input_stages(transformer)
        return
    estimators = getattr(model, "estimators_", None)
    if isinstance(estimators, list) and estimators and not hasattr(model, "tree_") and not _is_forest(model):
        for estimator in estimators:
            if estimator != "drop":
                yield from _input_stages(estimator)
        return
    yield model


def _is_forest(model: Any) -> bool:
    """Tree ensembles keep `estimators_` too, but their trees see the same columns as the forest itself."""
    return hasattr(model, "n_features_in_") and all(hasattr(tree, "tree_") for tree in model.estimators_)


def _collect(stage: Any, columns: Sequence[int], evidence: dict[int, _CategoryEvidence]) -> None:
    """Record what `stage` tells about the input columns it receives (`columns[i]` is its input column i)."""
    if isinstance(stage, ColumnTransformer):
        positions = stage._transformer_to_input_indices
        for name, transformer, _ in stage.transformers_:
            if transformer in ("drop", "passthrough"):
                continue
            selected = [columns[index] for index in positions[name]]
            if isinstance(transformer, TEXT_VECTORIZERS):
                for column in selected:
                    evidence.setdefault(column, _CategoryEvidence()).text = True
                continue
            _collect(transformer, selected, evidence)
        return
    if isinstance(stage, Pipeline):
        for _, step in stage.steps:
            if step is None or step == "passthrough":
                continue
            _collect(step, columns, evidence)
            if not (isinstance(step, COLUMNWISE_STEPS) and not getattr(step, "add_indicator", False)):
                return
        return
    if isinstance(stage, FeatureUnion):
        for _, transformer in stage.transformer_list:
            if transformer not in ("drop", None):
                _collect(transformer, columns, evidence)
        return
    categories = getattr(stage, "categories_", None)
    if isinstance(categories, list) and len(categories) == len(columns):
        for column, fitted in zip(columns, categories, strict=True):
            values = tuple(value for value in map(_plain_category, fitted) if value is not None)
            entry = evidence.setdefault(column, _CategoryEvidence())
            entry.categories.append(values)
            entry.accepts_unknown.append(_encoder_accepts_unknown(stage))
        return
    preprocessor = getattr(stage, "_preprocessor", None)
    if isinstance(preprocessor, ColumnTransformer):
        # HistGradientBoosting's own encoding of the categorical columns it found (by dtype or by name)
        _collect(preprocessor, columns, evidence)
        return
    is_categorical = getattr(stage, "is_categorical_", None)
    bin_mapper = getattr(stage, "_bin_mapper", None)
    if is_categorical is not None and bin_mapper is not None:
        thresholds = bin_mapper.bin_thresholds_
        for index in np.flatnonzero(is_categorical):
            entry = evidence.setdefault(columns[int(index)], _CategoryEvidence())
            known = (_plain_category(value) for value in thresholds[int(index)])
            entry.categories.append(tuple(value for value in known if value is not None))
            entry.accepts_unknown.append(True)


def is_text_model(model: Any) -> bool:
    """Whether the model takes one string per row (its first step is a text vectorizer)."""
    return any(isinstance(stage, TEXT_VECTORIZERS) for stage in _input_stages(model))


def feature_names(model: Any) -> list[str]:
    """The model's input feature names: its fit-time column names, `text` for a text model, else x0, x1, ..."""
    if is_text_model(model):
        return ["text"]
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return [str(name) for name in names]
    return [f"x{index}" for index in range(int(model.n_features_in_))]


def _merge(name: str, entry: _CategoryEvidence) -> FeatureType:
    accepts_unknown = all(entry.accepts_unknown)
    strict = [values for values, accepts in zip(entry.categories, entry.accepts_unknown, strict=True) if not accepts]
    pool = strict if strict else entry.categories
    allowed: list[Category] = []
    for values in pool:
        for value in values:
            if value not in allowed and all(value in other for other in strict):
                allowed.append(value)
    return FeatureType(name=name, kind="category", categories=tuple(allowed), accepts_unknown=accepts_unknown)


def detect_feature_types(
    model: Any,
    *,
    names: Sequence[str] | None = None,
    nullable_check: Callable[[int], bool] | None = None,
    frame: Any = None,
    categorical: Collection[str] = (),
    text: Collection[str] = (),
    nullable: Collection[str] = (),
) -> list[FeatureType]:
    """The type of every input feature, in input order.

    `names` are the feature names when the model no longer records them (a model rewritten for plain rows keeps
    them in `RewrittenModel.feature_names`); by default `feature_names(model)`.
    `nullable_check(i)` answers whether the model predicts with a missing value in feature i (see
    `missing_value_check`); without it only the `nullable` override marks features nullable. `frame`, the training
    DataFrame when there is one, types the columns no encoder sees (e.g. dropped by a `ColumnTransformer`): one that
    does not hold numbers is a category with any value accepted. `categorical`, `text` and `nullable` name features
    whose type detection cannot tell; they win over what is detected."""
    names = list(names) if names is not None else feature_names(model)
    unknown = sorted((set(categorical) | set(text) | set(nullable)) - set(names))
    if unknown:
        raise FeatureTypeError(f"no feature named {', '.join(unknown)}: the model's features are {', '.join(names)}")
    both = sorted(set(categorical) & set(text))
    if both:
        raise FeatureTypeError(f"{', '.join(both)} cannot be both categorical and text: name each in one override")
    if is_text_model(model):
        return [FeatureType(name="text", kind="text", nullable=False)]
    evidence: dict[int, _CategoryEvidence] = {}
    for stage in _input_stages(model):
        _collect(stage, list(range(len(names))), evidence)
    types = []
    for index, name in enumerate(names):
        entry = evidence.get(index)
        if name in text or (entry is not None and entry.text and name not in categorical):
            feature = FeatureType(name=name, kind="text")
        elif entry is not None and entry.categories:
            feature = _merge(name, entry)
        elif name in categorical or (frame is not None and not _holds_numbers(frame, name)):
            feature = FeatureType(name=name, kind="category")
        else:
            feature = FeatureType(name=name, kind="number")
        if name in categorical and feature.kind != "category":
            feature = FeatureType(name=name, kind="category")
        is_nullable = name in nullable or (
            nullable_check is not None and feature.kind != "text" and nullable_check(index)
        )
        types.append(
            FeatureType(
                name=feature.name,
                kind=feature.kind,
                nullable=is_nullable,
                categories=feature.categories,
                accepts_unknown=feature.accepts_unknown,
            )
        )
    return types


def _holds_numbers(frame: Any, name: str) -> bool:
    import pandas as pd

    column = frame[name]
    return bool(pd.api.types.is_numeric_dtype(column)) and not isinstance(column.dtype, pd.CategoricalDtype)


def missing_value_check(model: Any, example_input: Callable[[int], Any]) -> Callable[[int], bool]:
    """A `nullable_check` that predicts with `example_input(i)`: an example row with feature i missing."""

    def accepts_missing(index: int) -> bool:
        try:
            model.predict(example_input(index))
        except Exception:  # whatever the model raises on the missing value, it does not accept it
            return False
        return True

    return accepts_missing


def _final_estimator(model: Any) -> Any:
    while True:
        if isinstance(model, Pipeline):
            model = model.steps[-1][1]
        elif hasattr(model, "best_estimator_"):
            model = model.best_estimator_
        else:
            return model


def task_kind(model: Any, example_input: Any) -> TaskKind:
    """What the model's predictions are, from its scikit-learn tags and the shape of a prediction.

    Clustering (integer cluster labels) and outlier detection (1 inlier, -1 outlier) are told apart from regression
    by the estimator type scikit-learn tags them with; multi-output by a prediction with more than one column."""
    estimator_type = get_tags(model).estimator_type
    if estimator_type == "clusterer":
        return "clustering"
    if estimator_type == "outlier_detector":
        return "outlier_detection"
    prediction = np.asarray(model.predict(example_input))
    multioutput = prediction.ndim == 2 and prediction.shape[1] > 1
    classifier = estimator_type == "classifier" or is_classifier(_final_estimator(model))
    if classifier:
        return "multioutput_classification" if multioutput else "classification"
    return "multioutput_regression" if multioutput else "regression"


def row_missing_check(model: Any, example_row: Sequence[Any], *, numeric_only: bool) -> Callable[[int], bool]:
    """A `nullable_check` for a model served on plain rows: the example row with feature i set to None, built into
    the array the service gives the model (`dataframe.rows_to_array`)."""
    from sklambda.dataframe import rows_to_array

    def example_input(index: int) -> Any:
        row = list(example_row)
        row[index] = None
        return rows_to_array([row], numeric_only=numeric_only)

    return missing_value_check(model, example_input)
